#!/bin/sh
# The committed diagrams of docs/ are what Graphviz makes of their .dot
# sources (scripts/diagrams); skipped (77) when dot is not installed.
set -u
: "${KTX_TOP_SRCDIR:?run through make check}"
exec "$KTX_TOP_SRCDIR/scripts/diagrams" --check
