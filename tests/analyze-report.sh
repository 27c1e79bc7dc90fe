#!/usr/bin/env bash
# report -o FILE.html: one self-contained page (no script, nothing fetched)
# that headless Chromium renders with its charts visible.  The screenshot
# is checked: the page is not blank, hiding every SVG changes a large share
# of its pixels (the charts are drawn, not empty boxes), and the charts'
# colours (histogram bars, series lines) are present.
set -euo pipefail
source "$(dirname "$0")/analyze-lib.sh"
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] || an_skip "chromium not installed (scripts/bootstrap installs it)"
PNG="python3 $AN_TESTS_DIR/analyze-png.py"

cd "$AN_TMP"
"$TRACEGEN" -n 30000 -s 64 --workers 4 --pending 3 t.db
an_run report t.db -o report.html --title "fuseanalyze test report"
[ "$AN_RC" = 0 ] || an_fail "report exited $AN_RC"

# self-contained: nothing that could fetch anything
! grep -Eiq '<script|<link|<iframe|<img|@import|url\(|src=|href="(https?:)?//' report.html ||
  an_fail "the report references external resources"
for id in chart-rate chart-data chart-inflight chart-latency hist-LOOKUP hist-READ; do
  grep -q "id=\"$id\"" report.html || an_fail "no chart $id in the report"
done
an_py report.html <<'PY' || an_fail "the report is not well-formed"
import html.parser, sys
class P(html.parser.HTMLParser):
    void = {"meta", "br", "hr", "img", "input", "link", "rect", "line", "path", "circle"}
    def __init__(s):
        super().__init__(); s.stack = []; s.err = []
    def handle_starttag(s, t, a):
        if t not in s.void: s.stack.append(t)
    def handle_startendtag(s, t, a): pass
    def handle_endtag(s, t):
        if t in s.void: return
        if not s.stack or s.stack[-1] != t: s.err.append(f"</{t}> closes {s.stack[-1:]}")
        else: s.stack.pop()
p = P(); p.feed(open(sys.argv[1]).read())
assert not p.err and not p.stack, (p.err[:5], p.stack[-5:])
PY

shot() {                            # HTML PNG
  HOME=$AN_TMP timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --disable-dev-shm-usage --no-first-run --window-size=1280,6400 \
    --force-device-scale-factor=${AN_SHOT_SCALE:-0.5} \
    --screenshot="$AN_TMP/$2" "file://$AN_TMP/$1" >/dev/null 2>&1 || true
  [ -s "$2" ] || an_fail "chromium wrote no screenshot of $1"
}
shot report.html shot.png
sed 's|</head>|<style>svg{visibility:hidden}</style></head>|' report.html > nocharts.html
shot nocharts.html nocharts.png

# one pass over both screenshots (a pure-Python PNG reader: keep it small)
res=$($PNG check shot.png nocharts.png 35aa98:40 2f6fde:45)
an_log "screenshot: $res"
an_py "$res" <<'PY' || an_fail "the screenshot does not show the charts"
import json, sys
r = json.loads(sys.argv[1])
page = r["page"]
assert page["colours"] > 200 and page["stddev"] > 15, page        # not blank
assert r["differ"] > 0.03, r                                     # the SVGs draw a lot
assert r["35aa98"] > 0.005, r                                    # histogram bars (teal)
assert r["2f6fde"] > 0.0005, r                                   # series lines (blue)
PY
cp shot.png "${AN_KEEP_SHOT:-/dev/null}" 2>/dev/null || true
an_log "ok"
