package main

import (
	"errors"
	"fmt"
	"image/color"
	"os"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// errNoPoints is returned when no run reached all RUNNING.
var errNoPoints = errors.New("scale: no finished point to chart")

// writeChart draws two panels against the number of nodes: create -> all
// RUNNING (with the line a linear scaling from the first point would
// follow), and the leader's RSS (peak and at the end) with the 1 GiB goal.
func writeChart(path string, rs []Result) error {
	var tm, lin, peak, end, unfinished plotter.XYs
	for _, r := range rs {
		if r.AllRunning <= 0 {
			// A run that did not finish still shows its leader's peak RSS.
			if l := r.Leader(); l.PeakRSS > 0 {
				unfinished = append(unfinished, plotter.XY{X: float64(r.Nodes), Y: float64(l.PeakRSS) / (1 << 20)})
			}
			continue
		}
		x := float64(r.Nodes)
		tm = append(tm, plotter.XY{X: x, Y: r.AllRunning.Seconds()})
		l := r.Leader()
		peak = append(peak, plotter.XY{X: x, Y: float64(l.PeakRSS) / (1 << 20)})
		end = append(end, plotter.XY{X: x, Y: float64(l.RSS) / (1 << 20)})
	}
	if len(tm) == 0 {
		return errNoPoints
	}
	for _, p := range tm {
		lin = append(lin, plotter.XY{X: p.X, Y: tm[0].Y * p.X / tm[0].X})
	}
	var pts []string
	for _, r := range rs {
		if r.AllRunning > 0 {
			pts = append(pts, fmt.Sprintf("%d x %dk", r.Nodes, r.Tasks/1000))
		}
	}
	title := fmt.Sprintf("bench/scale: %d managers, each its own process; nodes x tasks %s", rs[0].Managers, strings.Join(pts, ", "))

	p1 := plot.New()
	p1.Title.Text = "create -> all RUNNING"
	p1.X.Label.Text = "simulated nodes"
	p1.Y.Label.Text = "seconds"
	p1.Y.Min = 0
	if err := addLine(p1, tm, "measured", color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, false); err != nil {
		return err
	}
	if err := addLine(p1, lin, "linear from the first point", color.Gray{Y: 0x90}, true); err != nil {
		return err
	}
	p1.Legend.Top, p1.Legend.Left = true, true

	p2 := plot.New()
	p2.Title.Text = "leader process RSS"
	p2.X.Label.Text = "simulated nodes"
	p2.Y.Label.Text = "MiB"
	p2.Y.Min = 0
	if err := addLine(p2, peak, "peak (VmHWM)", color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, false); err != nil {
		return err
	}
	if err := addLine(p2, end, "at all RUNNING (VmRSS)", color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, false); err != nil {
		return err
	}
	if len(unfinished) > 0 {
		sc, err := plotter.NewScatter(unfinished)
		if err != nil {
			return err
		}
		sc.Color = color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}
		sc.Shape = draw.TriangleGlyph{}
		sc.Radius = vg.Points(4)
		p2.Add(sc)
		p2.Legend.Add("peak, run that did not finish", sc)
	}
	lastX := tm[len(tm)-1].X
	for _, u := range unfinished {
		lastX = max(lastX, u.X)
	}
	goal := plotter.XYs{{X: tm[0].X, Y: 1024}, {X: lastX, Y: 1024}}
	if err := addLine(p2, goal, "1 GiB goal", color.Gray{Y: 0x90}, true); err != nil {
		return err
	}
	p2.Legend.Top, p2.Legend.Left = true, true
	p2.Y.Max = 1024 * 1.3 // room for the legend above the goal line
	for _, p := range append(append(plotter.XYs{}, peak...), unfinished...) {
		p2.Y.Max = max(p2.Y.Max, p.Y*1.3)
	}

	const w, h = 10 * vg.Inch, 4.5 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	head := plot.New()
	head.Title.Text = title
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Centimeter, PadY: vg.Centimeter, PadTop: vg.Centimeter, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	cs := plot.Align([][]*plot.Plot{{p1, p2}}, tiles, dc)
	p1.Draw(cs[0][0])
	p2.Draw(cs[0][1])
	dc.FillText(draw.TextStyle{Color: color.Black, Font: head.Title.TextStyle.Font, Handler: head.Title.TextStyle.Handler, XAlign: draw.XCenter, YAlign: draw.YTop},
		vg.Point{X: w / 2, Y: h - vg.Millimeter*2}, title)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func addLine(p *plot.Plot, xys plotter.XYs, name string, c color.Color, dashed bool) error {
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color = c
	l.Width = vg.Points(1.5)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		p.Legend.Add(name, l)
		return nil
	}
	pts.Color = c
	pts.Shape = draw.CircleGlyph{}
	p.Add(l, pts)
	p.Legend.Add(name, l, pts)
	return nil
}
