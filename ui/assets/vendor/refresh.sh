#!/usr/bin/env bash
# Re-downloads the dashboard's vendored libraries from the npm registry at the pinned versions
# below and copies the browser builds and license files here. Run it after changing a version;
# commit the result. Needs npm (only for `npm pack`); nothing is built.
set -euo pipefail
cd "$(dirname "$0")"

DAGRE_VERSION=3.1.3   # @dagrejs/dagre: layered graph layout for the service map (MIT)
UPLOT_VERSION=1.6.32  # uplot: histograms and time series with drag-to-select (MIT)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@dagrejs/dagre@$DAGRE_VERSION" "uplot@$UPLOT_VERSION" >/dev/null)
mkdir -p "$work/dagre" "$work/uplot"
tar xzf "$work/dagrejs-dagre-$DAGRE_VERSION.tgz" -C "$work/dagre"
tar xzf "$work/uplot-$UPLOT_VERSION.tgz" -C "$work/uplot"

# Both ship self-contained ES modules (no imports), loaded by the dashboard as they are.
cp "$work/dagre/package/dist/dagre.esm.js" dagre.esm.js
cp "$work/dagre/package/LICENSE" LICENSE-dagre
cp "$work/uplot/package/dist/uPlot.esm.js" uPlot.esm.js
cp "$work/uplot/package/dist/uPlot.min.css" uPlot.min.css
cp "$work/uplot/package/LICENSE" LICENSE-uplot
echo "dagre $DAGRE_VERSION, uplot $UPLOT_VERSION" > VERSIONS
