package backend

// SetFanInMax lowers a federation's fan-in bound for a test.
func (f *Federation) SetFanInMax(n int) { f.fanInMax = n }
