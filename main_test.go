package main

import "testing"

func TestQuietSDKLogs(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		want map[string]string
	}{
		{"no terraform logging: SDK silent", map[string]string{},
			map[string]string{"TF_LOG_SDK": "OFF", "TF_LOG_SDK_FRAMEWORK": "OFF", "TF_LOG_SDK_PROTO": "OFF", "TF_LOG_PROVIDER_LVS": "OFF"}},
		{"TF_LOG_PROVIDER wins over TF_LOG", map[string]string{"TF_LOG": "trace", "TF_LOG_PROVIDER": "info"},
			map[string]string{"TF_LOG_SDK": "INFO", "TF_LOG_PROVIDER_LVS": "INFO"}},
		{"TF_LOG alone", map[string]string{"TF_LOG": "debug"},
			map[string]string{"TF_LOG_SDK_FRAMEWORK": "DEBUG"}},
		{"JSON is trace", map[string]string{"TF_LOG": "JSON"},
			map[string]string{"TF_LOG_SDK_PROTO": "TRACE"}},
		{"a level the operator set is kept", map[string]string{"TF_LOG_SDK_FRAMEWORK": "TRACE"},
			map[string]string{"TF_LOG_SDK_FRAMEWORK": "TRACE", "TF_LOG_SDK": "OFF"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range c.env {
				env[k] = v
			}
			quietSDKLogs(func(k string) string { return env[k] }, func(k, v string) error { env[k] = v; return nil })
			for k, v := range c.want {
				if env[k] != v {
					t.Errorf("%s = %q, want %q", k, env[k], v)
				}
			}
		})
	}
}
