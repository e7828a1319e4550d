# The daemon's curve of `make soak` (tests/churn.rs): its RSS, open descriptors and threads against the number
# of containers done, from the TSV the test writes. `gnuplot -e "data='X.tsv'; out='X.svg'" curve.gp`
# (SVG, as bench/lib/plots.gp, so it diffs as text; out='X.png' makes a PNG).
if (!exists("data")) data = "target/soak/daemon.tsv"
if (!exists("out")) out = "target/soak/daemon.svg"
if (out[strlen(out)-3:] eq ".png") {
    set terminal pngcairo size 1100,460 font "sans,11" background rgb "white"
} else {
    set terminal svg size 1100,460 dynamic font "sans,12" background rgb "white"
}
set output out
set datafile separator "\t"
set key autotitle columnhead bottom right
set grid
set xlabel "containers done"
set multiplot layout 1,2 title "containy serve while containers churn (tests/churn.rs)"
set ylabel "RSS (MiB)"
set yrange [0:*]
plot data using 1:($3/1024) with linespoints pt 7 ps 0.4 lw 2 lc rgb "#1b9e77" title "VmRSS"
set ylabel "count"
plot data using 1:4 with linespoints pt 7 ps 0.4 lw 2 lc rgb "#d95f02" title "open fds", \
     data using 1:5 with linespoints pt 7 ps 0.4 lw 2 lc rgb "#7570b3" title "threads"
unset multiplot
