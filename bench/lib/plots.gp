# bench/lib/plots.gp — the plots of BENCHMARKS.md, from the data files summarize.py writes.
# Run in bench/results/: gnuplot ../lib/plots.gp (bench/run.sh does it). SVG, so they diff as text.

set terminal svg size 900,420 dynamic font "sans,12" background rgb "white"
set grid
set key bottom right
# One colour per runtime, the same in every plot (blocks come in containy, crun, runc order if present).
color(name) = (strstrt(name, "containy") ? 0x1b9e77 : (strstrt(name, "crun") ? 0xd95f02 : 0x7570b3))

# 1. Latency distribution per runtime: empirical CDFs of wall time and CPU time of `run /bin/true`.
if (system("test -s run-latency.dat && test -s plotvars.gp && echo 1") eq "1") {
    load "plotvars.gp" # runtimes = "containy crun runc": the order of the blocks (3 per runtime)
    n = words(runtimes)
    set terminal svg size 1300,430 dynamic font "sans,12" background rgb "white"
    set output "run-latency.svg"
    set multiplot layout 1,3 title "run /bin/true — distribution over the paired rounds"
    set ylabel "fraction of runs ≤ x"
    set yrange [0:1]
    set logscale x 2
    set xlabel "wall ms, back to back (log scale)"
    plot for [i=1:n] "run-latency.dat" index 3*(i-1) using 1:2 with steps lw 2 \
        lc rgb color(word(runtimes, i)) title word(runtimes, i)
    set xlabel "wall ms, isolated starts 100 ms apart (log scale)"
    plot for [i=1:n] "run-latency.dat" index 3*(i-1)+2 using 1:2 with steps lw 2 \
        lc rgb color(word(runtimes, i)) title word(runtimes, i)
    set xlabel "CPU ms, user+sys, back to back (log scale)"
    plot for [i=1:n] "run-latency.dat" index 3*(i-1)+1 using 1:2 with steps lw 2 \
        lc rgb color(word(runtimes, i)) title word(runtimes, i)
    unset multiplot
    unset logscale x
    unset yrange
    set terminal svg size 900,420 dynamic font "sans,12" background rgb "white"
}

# 2. containy's start latency vs the size of its base (overlay mode): median with min–max bars.
if (system("test -s sizes.dat && echo 1") eq "1") {
    set output "size-latency.svg"
    set title "containy run /bin/true vs base size (overlay mode): median, bars 25–75 %"
    set xlabel "base size (MB, log scale)"
    set ylabel "wall time (ms)"
    set logscale x 10
    set yrange [0:*]
    set xrange [1:10000]
    unset key
    plot "sizes.dat" every ::1 using 2:3:4:5 with yerrorbars pt 7 ps 1.2 lc rgb 0x1b9e77 title "containy", \
         "" every ::1 using 2:5:1 with labels offset 0,1 notitle
    unset logscale x
    unset xrange
    set key bottom right
}

# 3. 50 containers, 8 at a time: total wall time per runtime.
if (system("test -s batch.dat && echo 1") eq "1") {
    set output "batch.svg"
    set title "50 containers, 8 at a time: total wall time (median, min–max)"
    set xlabel ""
    set ylabel "seconds"
    set yrange [0:*]
    set style fill solid 0.7
    set boxwidth 0.6
    plot "batch.dat" every ::1 using 0:2:(color(strcol(1))):xtic(1) with boxes lc rgb variable notitle, \
         "" every ::1 using 0:2:3:4 with yerrorbars lc rgb "black" pt 0 notitle
}
