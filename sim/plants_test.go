package sim

import (
	"strings"
	"testing"
)

func TestPlantsRoundTrip(t *testing.T) {
	all := make([]string, 0, len(plants))
	for _, p := range plants {
		all = append(all, p.name)
		h, err := ParsePlants(p.name)
		if err != nil || h.String() != p.name || h == (Hooks{}) {
			t.Errorf("%s: %+v %v", p.name, h, err)
		}
	}
	h, err := ParsePlants(strings.Join(all, ","))
	if err != nil || h.String() != strings.Join(all, ",") {
		t.Errorf("all: %q %v", h.String(), err)
	}
	if h, err := ParsePlants(""); err != nil || h != (Hooks{}) {
		t.Errorf("empty: %+v %v", h, err)
	}
	if _, err := ParsePlants("stale-reads,nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown name: %v", err)
	}
}
