# Package, Architecture, Version, source name and source version of each stanza.
function flush() { if (pkg != "") { if (src == "") src = pkg; if (srcver == "") srcver = ver; print pkg "\t" arch "\t" ver "\t" src "\t" srcver } pkg = ""; arch = ""; ver = ""; src = ""; srcver = "" }
/^Package: / { pkg = $2 }
/^Architecture: / { arch = $2 }
/^Version: / { ver = $2 }
/^Source: / { src = $2; if ($3 ~ /^\(/) { srcver = $3; gsub(/[()]/, "", srcver) } }
/^$/ { flush() }
END { flush() }
