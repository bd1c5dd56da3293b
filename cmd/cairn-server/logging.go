package main

import (
	"fmt"
	"strings"

	"github.com/cairn-db/cairn/internal/config"
	"github.com/cairn-db/cairn/internal/server"
)

// applyFileLogging copies the config file's logging and lame duck keys
// into o, before the command line is parsed again over them.
func (o *options) applyFileLogging(f *config.Config) {
	lg := f.Logging
	if lg.Logtime != nil {
		o.logtime = *lg.Logtime
	}
	o.logtimeUTC = o.logtimeUTC || lg.LogtimeUTC
	if lg.LogSizeLimit != 0 {
		o.logSizeLimit = lg.LogSizeLimit
	}
	if lg.LogMaxNum != 0 {
		o.logMaxNum = lg.LogMaxNum
	}
	setIfEmpty(&o.logFormat, lg.LogFormat)
	o.lameDuck = f.LameDuck
}

// checkLogging validates the logging flags.
func (o *options) checkLogging() error {
	o.logFormat = strings.ToLower(o.logFormat)
	switch o.logFormat {
	case "", "text", "json":
	default:
		return fmt.Errorf("invalid --log_format %q: use text or json", o.logFormat)
	}
	if o.logSizeLimit < 0 {
		return fmt.Errorf("invalid --log_size_limit %d: must not be negative", o.logSizeLimit)
	}
	if o.logMaxNum < 0 {
		return fmt.Errorf("invalid --log_max_num %d: must not be negative", o.logMaxNum)
	}
	return nil
}

// logConfig is the logger's configuration the options ask for.
func (o *options) logConfig() server.LogConfig {
	return server.LogConfig{
		Debug:     o.cfg.Server.Debug,
		Trace:     o.cfg.Server.Trace,
		NoTime:    !o.logtime,
		UTC:       o.logtimeUTC,
		JSON:      o.logFormat == "json",
		File:      o.logFile,
		SizeLimit: o.logSizeLimit,
		MaxFiles:  o.logMaxNum,
	}
}
