package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoggingAndLameDuckKeys(t *testing.T) {
	on, off := true, false
	tests := []struct {
		name string
		text string
		want func(*Config) any
		val  any
	}{
		{"logtime off", "logtime: false", func(c *Config) any { return c.Logging.Logtime }, &off},
		{"logtime on", "logtime: true", func(c *Config) any { return c.Logging.Logtime }, &on},
		{"logtime absent", "port: 1", func(c *Config) any { return c.Logging.Logtime }, (*bool)(nil)},
		{"logtime_utc", "logtime_utc: true", func(c *Config) any { return c.Logging.LogtimeUTC }, true},
		{"log_file", "log_file: \"/var/log/cairn.log\"", func(c *Config) any { return c.Logging.LogFile }, "/var/log/cairn.log"},
		{"logfile alias", "logfile: x.log", func(c *Config) any { return c.Logging.LogFile }, "x.log"},
		{"log_size_limit", "log_size_limit: 10MB", func(c *Config) any { return c.Logging.LogSizeLimit }, int64(10 << 20)},
		{"logfile_size_limit", "logfile_size_limit: 1000", func(c *Config) any { return c.Logging.LogSizeLimit }, int64(1000)},
		{"log_max_num", "log_max_num: 5", func(c *Config) any { return c.Logging.LogMaxNum }, 5},
		{"logfile_max_num", "logfile_max_num: 3", func(c *Config) any { return c.Logging.LogMaxNum }, 3},
		{"log_format json", "log_format: JSON", func(c *Config) any { return c.Logging.LogFormat }, "json"},
		{"log_format text", "log_format: text", func(c *Config) any { return c.Logging.LogFormat }, "text"},
		{"lame_duck_duration", "lame_duck_duration: \"45s\"", func(c *Config) any { return c.LameDuck }, LameDuck{Duration: 45 * time.Second}},
		{"lame_duck_grace_period", "lame_duck_grace_period: \"1s\"", func(c *Config) any { return c.LameDuck }, LameDuck{GracePeriod: time.Second}},
		{"both", "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"29s\"", func(c *Config) any { return c.LameDuck }, LameDuck{30 * time.Second, 29 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.text, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.want(c); !reflect.DeepEqual(got, tt.val) {
				t.Errorf("got %#v, want %#v", got, tt.val)
			}
			if len(c.Warnings) != 0 {
				t.Errorf("warnings %q", c.Warnings)
			}
		})
	}
}

func TestLoggingAndLameDuckInvalid(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"ldm too short", "lame_duck_duration: \"10s\"", `cairn.conf:1: lame_duck_duration: invalid lame_duck_duration of 10s, minimum is 30 seconds`},
		{"ldm bad", "lame_duck_duration: soon", `cairn.conf:1: lame_duck_duration: expected a positive duration such as "30s", got "soon"`},
		{"ldm number", "lame_duck_duration: 60", `lame_duck_duration: expected a duration such as "30s", got 60`},
		{"grace negative", "lame_duck_grace_period: \"-1s\"", `lame_duck_grace_period: expected a positive duration`},
		{"grace over duration", "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"30s\"", `lame duck grace period (30s) should be strictly lower than lame duck duration (30s)`},
		{"grace over default", "lame_duck_grace_period: \"3m\"", `lame duck grace period (3m0s) should be strictly lower than lame duck duration (2m0s)`},
		{"size limit word", "log_size_limit: big", `cairn.conf:1: log_size_limit: expected a size, got "big"`},
		{"size limit negative", "log_size_limit: -5", `log_size_limit: size -5 out of range`},
		{"max num negative", "log_max_num: -1", `log_max_num: size -1 out of range`},
		{"format", "log_format: xml", `cairn.conf:1: log_format: expected "text" or "json", got "xml"`},
		{"logtime_utc", "logtime_utc: 1", `logtime_utc: expected true or false, got 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.text, nil)
			if err == nil || c != nil {
				t.Fatalf("loaded %+v, want error %q", c, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want %q", err, tt.want)
			}
		})
	}
}
