#!/usr/bin/env bash
# Regenerates the README's screenshots of the step view and the walkthrough page in Assets/screenshots/
# (`make screenshots`). Needs tmux and chromium (Debian: apt-get install tmux chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
out=Assets/screenshots
mkdir -p "$out"
swift build
bin="$(swift build --show-bin-path)/fbdefio-emu"
trace=Tests/LabTests/Goldens/two-procs-one-page.trace
tmp="$(mktemp -d)"
sock="fbdefio-shot-$$"
trap 'tmux -L "$sock" kill-server 2>/dev/null || true; rm -rf "$tmp"' EXIT
shoot() {  # shoot PAGE PNG WIDTH HEIGHT: a headless Chromium screenshot with the network off
  local run=(chromium)
  if unshare -n true 2>/dev/null; then run=(unshare -n chromium); fi
  "${run[@]}" --headless --no-sandbox --disable-gpu --hide-scrollbars --proxy-server=http://127.0.0.1:9 \
    --user-data-dir="$tmp/profile" --window-size="$3,$4" --screenshot="$2" "$1" 2>/dev/null
}

# 1. The terminal view at event 22 of scenario 7 (the worker write-protects the second process's PTE), as tmux
#    shows it; the pane's colours become HTML for the screenshot.
tmux -L "$sock" -f /dev/null new-session -d -s s -x 132 -y 44 "'$bin' step --trace $trace"
sleep 2
tmux -L "$sock" send-keys -t s g; sleep 0.3; tmux -L "$sock" send-keys -t s 2 2 Enter; sleep 1.5
tmux -L "$sock" capture-pane -e -p -t s > "$tmp/pane.txt"
tmux -L "$sock" send-keys -t s q
{
  echo '<!DOCTYPE html><meta charset="utf-8"><style>body{margin:0;background:#1e1e1e}'
  echo 'pre{margin:0;padding:10px;color:#d4d4d4;font:14px/1.25 "DejaVu Sans Mono",monospace}'
  echo '.r{background:#d4d4d4;color:#1e1e1e}.b{font-weight:bold;color:#fff}</style><pre>'
  sed -e 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g' \
      -e 's/\x1b\[7m/<span class="r">/g; s/\x1b\[1m/<span class="b">/g' \
      -e 's/\x1b\[\(0\|27\|22\|39\|49\)\?m/<\/span>/g; s/\x1b\[[0-9;]*[A-Za-z]//g' "$tmp/pane.txt"
  echo '</pre>'
} > "$tmp/pane.html"
shoot "file://$tmp/pane.html" "$out/step-terminal.png" 1200 800

# 2. The walkthrough of the explorer's schedule for the missing TLB flush, at the event the re-arm checker fired.
"$bin" explore --variant upstream+missing-tlb-flush --scenario wp-race --schedules 20 --jobs 1 \
  --out "$tmp/mtf.schedule" --walkthrough "$tmp/mtf.html" > "$tmp/explore.txt" || true
step=$(grep -o '"violationEvent":[0-9]*' "$tmp/mtf.html" | head -1 | cut -d: -f2)
shoot "file://$tmp/mtf.html#step=$step" "$out/walkthrough.png" 1280 1900

# 3. A 1080p run's page (2025 pages a mapping, 20000 of its events carried).
"$bin" run --headless --panel simpledrm --resolution 1920x1080 --frames 5 --walkthrough "$tmp/w1080.html" > /dev/null
shoot "file://$tmp/w1080.html#step=15000" "$out/walkthrough-1080p.png" 1280 1500
ls -la "$out"
