# columns.sh -- sourced by bench/run.sh and bench/flite.sh.
#
# columns: reads tab-separated rows on stdin, the first one a header, and
# prints them as aligned text columns (the first left-aligned, the others
# right-aligned), with a dashed line under the header.
columns() {
  awk -F'\t' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > wd[i]) wd[i] = length($i) }
                if (NF > nf) nf = NF }
    END { for (r = 1; r <= NR; r++) { line = ""
            for (i = 1; i <= nf; i++)
              line = line (i == 1 ? sprintf("%-" wd[i] "s", c[r, i]) : sprintf("  %" wd[i] "s", c[r, i]))
            print line
            if (r == 1) { line = ""; for (i = 1; i <= nf; i++) { d = sprintf("%" wd[i] "s", ""); gsub(/ /, "-", d); line = line (i == 1 ? d : "  " d) }
                          print line } } }'
}
