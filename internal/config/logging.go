package config

import (
	"strings"
	"time"
)

// Logging holds the logging keys, as nats-server reads them. cmd/
// cairn-server turns them into the server's log configuration.
type Logging struct {
	Debug, Trace bool
	Logtime      *bool  // logtime; nil when absent (nats-server: on)
	LogtimeUTC   bool   // logtime_utc
	LogFile      string // log_file, logfile
	// LogSizeLimit is the size past which the log file is rotated
	// (log_size_limit, logfile_size_limit; 0: never); LogMaxNum the
	// most log files kept, the current one included (log_max_num,
	// logfile_max_num; 0: all).
	LogSizeLimit int64
	LogMaxNum    int
	// LogFormat is Cairn's log_format: "" or "text" (nats-server's
	// lines) or "json" (one object per line).
	LogFormat string
	PidFile   string // pid_file, pidfile
}

// LameDuck holds lame_duck_duration and lame_duck_grace_period; zero
// when absent (the server's defaults, 2m and 10s).
type LameDuck struct {
	Duration    time.Duration
	GracePeriod time.Duration
}

// minLameDuckDuration is nats-server's lower bound for
// lame_duck_duration.
const minLameDuckDuration = 30 * time.Second

// loggingKey applies a logging or lame duck key; ok is false for any
// other key.
func (c *Config) loggingKey(k string, v value) (ok bool, err error) {
	switch k {
	case "debug":
		c.Logging.Debug, err = v.boolean(k)
	case "trace":
		c.Logging.Trace, err = v.boolean(k)
	case "logtime":
		var b bool
		if b, err = v.boolean(k); err == nil {
			c.Logging.Logtime = &b
		}
	case "logtime_utc":
		c.Logging.LogtimeUTC, err = v.boolean(k)
	case "log_file", "logfile":
		c.Logging.LogFile, err = v.str(k)
	case "log_size_limit", "logfile_size_limit":
		c.Logging.LogSizeLimit, err = v.size(k, 1<<62)
	case "log_max_num", "logfile_max_num":
		var n int64
		if n, err = v.size(k, 1<<31-1); err == nil {
			c.Logging.LogMaxNum = int(n)
		}
	case "log_format":
		var s string
		if s, err = v.str(k); err == nil {
			s = strings.ToLower(s)
			if s != "text" && s != "json" {
				err = v.errorf(k, "expected \"text\" or \"json\", got %q", s)
			}
			c.Logging.LogFormat = s
		}
	case "pid_file", "pidfile":
		c.Logging.PidFile, err = v.str(k)
	case "lame_duck_duration":
		c.LameDuck.Duration, err = durationString(k, v)
		if err == nil && c.LameDuck.Duration < minLameDuckDuration {
			// nats-server's bound and words.
			err = v.errorf(k, "invalid lame_duck_duration of %v, minimum is 30 seconds", c.LameDuck.Duration)
		}
	case "lame_duck_grace_period":
		c.LameDuck.GracePeriod, err = durationString(k, v)
	default:
		return false, nil
	}
	return true, err
}

// durationString is a duration written as a string ("30s"), the only
// form nats-server takes for the lame duck keys.
func durationString(k string, v value) (time.Duration, error) {
	s, ok := v.v.(string)
	if !ok {
		return 0, v.errorf(k, "expected a duration such as \"30s\", got %s", describe(v.v))
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, v.errorf(k, "expected a positive duration such as \"30s\", got %q", s)
	}
	return d, nil
}

// checkLameDuck validates what spans the two lame duck keys.
func (c *Config) checkLameDuck(top value) error {
	d, g := c.LameDuck.Duration, c.LameDuck.GracePeriod
	if d == 0 {
		d = 2 * time.Minute
	}
	if g >= d {
		return top.errorf("lame_duck_grace_period", "lame duck grace period (%v) should be strictly lower than lame duck duration (%v)", g, d)
	}
	return nil
}
