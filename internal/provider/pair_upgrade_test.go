package provider

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestUpgradePairStateV0(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, in, want string }{
		{"seconds become durations",
			`{"id":"edge@a,b","ipvs_timeouts":{"tcp":900,"tcp_fin":null,"udp":60},"name":"edge"}`,
			`{"id":"edge@a,b","ipvs_timeouts":{"tcp":"900s","tcp_fin":null,"udp":"60s"},"log_level":"info","name":"edge"}`},
		{"zero stays set", `{"ipvs_timeouts":{"tcp":0,"tcp_fin":null,"udp":null}}`, `{"ipvs_timeouts":{"tcp":"0s","tcp_fin":null,"udp":null},"log_level":"info"}`},
		{"no timeouts", `{"ipvs_timeouts":null,"name":"edge"}`, `{"ipvs_timeouts":null,"log_level":"info","name":"edge"}`},
		{"absent", `{"name":"edge"}`, `{"log_level":"info","name":"edge"}`},
		{"log level kept", `{"log_level":"debug"}`, `{"log_level":"debug"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := upgradePairStateV0([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(c.want), &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("upgradePairStateV0(%s) = %s, want %s", c.in, got, c.want)
			}
		})
	}
	for _, bad := range []string{`{"ipvs_timeouts":{"tcp":1.5}}`, `{"ipvs_timeouts":{"tcp":"soon"}}`, `not json`} {
		if got, err := upgradePairStateV0([]byte(bad)); err == nil {
			t.Errorf("upgradePairStateV0(%s) = %s, want an error", bad, got)
		}
	}
}
