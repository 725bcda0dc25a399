#!/usr/bin/env bash
# Lines of Swift per module (and the largest files), to keep complexity visible.
cd "$(dirname "$0")/.."
for d in Sources/* Tests/*; do
    n=$(find "$d" -name '*.swift' -print0 | xargs -0 cat 2>/dev/null | wc -l)
    printf "%-28s %6d\n" "$d" "$n"
done
echo "largest files:"; find Sources Tests -name '*.swift' -print0 | xargs -0 wc -l | sort -rn | sed -n '2,6p'
