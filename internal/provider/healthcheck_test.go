package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"
)

// TestHealthCheckTimeoutDefault: an unwritten timeout is the default 3s, or the interval if that
// is shorter, and reads back as unwritten; a written timeout longer than the interval is kept.
func TestHealthCheckTimeoutDefault(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		interval, timeout types.String
		wantMS            int
	}{
		{types.StringNull(), types.StringNull(), 3000},
		{types.StringValue("1s"), types.StringNull(), 1000},
		{types.StringValue("250ms"), types.StringNull(), 250},
		{types.StringValue("6s"), types.StringNull(), 3000},
		{types.StringValue("6s"), types.StringValue("10s"), 10000},
	} {
		m := &healthCheckModel{Type: types.StringValue("tcp"), Interval: c.interval, Timeout: c.timeout}
		h, err := wireHealthCheck(m, "health_check")
		if err != nil {
			t.Fatalf("interval %v timeout %v: %v", c.interval, c.timeout, err)
		}
		if h.TimeoutMS != c.wantMS {
			t.Errorf("interval %v timeout %v: sent %dms, want %dms", c.interval, c.timeout, h.TimeoutMS, c.wantMS)
		}
		back := healthCheckFrom(h, m)
		if !back.Timeout.Equal(c.timeout) {
			t.Errorf("interval %v timeout %v: reads back as %v", c.interval, c.timeout, back.Timeout)
		}
	}
}
