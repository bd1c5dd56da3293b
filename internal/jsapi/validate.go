package jsapi

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/cairn-db/cairn/internal/subject"
)

// Limits taken from nats-server, so that the same configurations are
// accepted and refused.
const (
	maxDescriptionLen      = 4 * 1024
	maxMetadataLen         = 128 * 1024
	defaultDuplicateWindow = 2 * time.Minute
	minWindow              = 100 * time.Millisecond

	metaRequiredLevel = "_nats.req.level"
	metaServerVersion = "_nats.ver"
	metaServerLevel   = "_nats.level"
)

// normalize validates a requested stream configuration and fills in the
// defaults nats-server fills in, in nats-server's order of checks, so
// the first error reported is the same. Features Cairn lacks are refused
// by refuseUnsupported.
func normalize(in StreamConfig) (StreamConfig, *APIError) { return normalizeAs(in, false) }

// normalizeAs is normalize on a server that replicates streams
// (clustered: num_replicas up to 5 is accepted) or not.
func normalizeAs(in StreamConfig, clustered bool) (StreamConfig, *APIError) {
	cfg := in
	if !subject.ValidStreamName(cfg.Name) {
		return cfg, errInvalidConfigF("stream name is required and can not contain '.', '*', '>', '\\', '/'")
	}
	if len(cfg.Description) > maxDescriptionLen {
		return cfg, errInvalidConfigF("stream description is too long, maximum allowed is %d", maxDescriptionLen)
	}
	metaLen := 0
	for k, v := range cfg.Metadata {
		metaLen += len(k) + len(v)
	}
	if metaLen > maxMetadataLen {
		return cfg, errInvalidConfigF("stream metadata exceeds maximum size of %d bytes", maxMetadataLen)
	}
	if cfg.Storage == StorageUnset {
		cfg.Storage = StorageFile
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Replicas > 5 {
		return cfg, errInvalidConfigF("maximum replicas is 5")
	}
	if cfg.Replicas < 0 {
		return cfg, errReplicasNegative
	}
	if e := normalizeLimits(&cfg); e != nil {
		return cfg, e
	}
	if e := normalizeMarkers(&cfg); e != nil {
		return cfg, e
	}
	if e := refuseUnsupported(&cfg, clustered); e != nil {
		return cfg, e
	}
	if e := normalizeSubjects(&cfg); e != nil {
		return cfg, e
	}
	if e := checkBucket(&cfg); e != nil {
		return cfg, e
	}
	if e := checkRePublish(&cfg); e != nil {
		return cfg, e
	}
	if string(cfg.Placement) == "{}" {
		cfg.Placement = nil
	}
	for _, raw := range []*json.RawMessage{&cfg.Placement, &cfg.Mirror, &cfg.Sources, &cfg.SubjectTransform} {
		if !present(*raw) {
			*raw = nil
		}
	}
	return cfg, nil
}

// normalizeLimits turns unset (0) or below -1 limits into -1 ("no
// limit") and checks ages and the duplicate window.
func normalizeLimits(cfg *StreamConfig) *APIError {
	unlimited := func(v *int64) {
		if *v == 0 || *v < -1 {
			*v = -1
		}
	}
	unlimited(&cfg.MaxMsgs)
	unlimited(&cfg.MaxMsgsPer)
	unlimited(&cfg.MaxBytes)
	if cfg.MaxMsgSize == 0 || cfg.MaxMsgSize < -1 {
		cfg.MaxMsgSize = -1
	}
	if cfg.MaxConsumers == 0 || cfg.MaxConsumers < -1 {
		cfg.MaxConsumers = -1
	}
	if cfg.MaxAge < 0 {
		return errInvalidConfigF("max age can not be negative")
	}
	if cfg.MaxAge != 0 && cfg.MaxAge < minWindow {
		return errInvalidConfigF("max age needs to be >= 100ms")
	}
	if cfg.Duplicates == 0 && !present(cfg.Mirror) && !present(cfg.Sources) {
		cfg.Duplicates = defaultDuplicateWindow
		if cfg.MaxAge != 0 && cfg.MaxAge < defaultDuplicateWindow {
			cfg.Duplicates = cfg.MaxAge
		}
	}
	if cfg.Duplicates < 0 {
		return errInvalidConfigF("duplicates window can not be negative")
	}
	if cfg.MaxAge != 0 && cfg.Duplicates > cfg.MaxAge {
		return errInvalidConfigF("duplicates window can not be larger then max age")
	}
	if cfg.Duplicates > 0 && cfg.Duplicates < minWindow {
		return errInvalidConfigF("duplicates window needs to be >= 100ms")
	}
	if cfg.DenyPurge && cfg.AllowRollup {
		return errInvalidConfigF("roll-ups require the purge permission")
	}
	if cfg.DiscardNewPer {
		if cfg.Discard != DiscardNew {
			return errInvalidConfigF("discard new per subject requires discard new policy to be set")
		}
		if cfg.MaxMsgsPer <= 0 {
			return errInvalidConfigF("discard new per subject requires max msgs per subject > 0")
		}
	}
	return nil
}

// normalizeMarkers applies the subject delete marker rules (ADR-43):
// markers need message TTLs and roll-ups, which are switched on.
func normalizeMarkers(cfg *StreamConfig) *APIError {
	switch {
	case cfg.SubjectDeleteMarkerTTL > 0:
		if cfg.SubjectDeleteMarkerTTL < time.Second {
			return errInvalidConfigF("subject delete marker TTL must be at least 1 second")
		}
		cfg.AllowMsgTTL = true
		if !cfg.AllowRollup {
			cfg.AllowRollup, cfg.DenyPurge = true, false
		}
	case cfg.SubjectDeleteMarkerTTL < 0:
		return errInvalidConfigF("subject delete marker TTL must not be negative")
	}
	return nil
}

// refuseUnsupported names the first requested feature Cairn does not
// implement. nats-server's own standalone error is used where it has one
// (replicas).
func refuseUnsupported(cfg *StreamConfig, clustered bool) *APIError {
	if cfg.Replicas > 1 && !clustered {
		return errReplicasNotSupported
	}
	unsupported := []struct {
		on   bool
		name string
	}{
		{cfg.Retention != RetentionLimits, "retention policy " + retentionNames[cfg.Retention]},
		{present(cfg.Mirror), "mirrors"},
		{present(cfg.Sources), "sources"},
		{cfg.MirrorDirect, "mirror direct"},
		{present(cfg.SubjectTransform), "subject transforms"},
		{cfg.FirstSeq > 0, "first sequence"},
		{cfg.DiscardNewPer, "discard new per subject"},
		{cfg.Sealed, "sealed streams"},
		{cfg.AllowMsgCounter, "message counters"},
		{cfg.AllowBatchPublish, "batch publishing"},
		{cfg.AllowMsgSchedules, "message schedules"},
		{cfg.PersistMode != "" && cfg.PersistMode != "default", "persist mode " + strconv.Quote(cfg.PersistMode)},
		{present(cfg.Placement) && string(cfg.Placement) != "{}", "placement"},
	}
	for _, u := range unsupported {
		if u.on {
			return errInvalidConfigF("%s not supported by this server", u.name)
		}
	}
	return nil
}

// normalizeSubjects defaults the subjects to the stream name and checks
// them: valid, no duplicates, no capture of the JetStream API or system
// subjects, no overlap among themselves.
func normalizeSubjects(cfg *StreamConfig) *APIError {
	if len(cfg.Subjects) == 0 {
		cfg.Subjects = []string{cfg.Name}
		return nil
	}
	// The overlap check is pairwise in nats-server; a trie finds the
	// same first pair without the quadratic cost for long lists.
	overlapAt, overlapWith := firstSelfOverlap(cfg.Subjects, subject.Overlap)
	seen := make(map[string]bool, len(cfg.Subjects))
	for i, s := range cfg.Subjects {
		if !subject.Valid(s) {
			return errInvalidConfigF("invalid subject")
		}
		if seen[s] {
			return errInvalidConfigF("duplicate subjects detected")
		}
		if s == ">" && !cfg.NoAck {
			return errInvalidConfigF("capturing all subjects requires no-ack to be true")
		}
		if !cfg.NoAck {
			for _, ns := range []string{"$JS.>", "$JSC.>", "$NRG.>"} {
				if subject.Overlap(s, ns) && !subject.SubsetOf(s, "$JS.EVENT.>") {
					return errInvalidConfigF("subjects that overlap with jetstream api require no-ack to be true")
				}
			}
			if subject.Overlap(s, "$SYS.>") && !subject.SubsetOf(s, "$SYS.ACCOUNT.>") {
				return errInvalidConfigF("subjects that overlap with system api require no-ack to be true")
			}
		}
		if i == overlapAt {
			return errInvalidConfigF("subject %q overlaps with %q", s, cfg.Subjects[overlapWith])
		}
		seen[s] = true
	}
	return nil
}

// maxKVHistory is the most values a KV bucket keeps per key (ADR-8).
const maxKVHistory = 64

// checkBucket applies the KeyValue clients' rules to a stream shaped as
// a bucket (KV_<bucket> on $KV.<bucket>.>): a valid bucket name and a
// history of 1 to 64. nats-server leaves these checks to the clients;
// Cairn refuses what they would refuse.
func checkBucket(cfg *StreamConfig) *APIError {
	bucket := kvBucket(cfg)
	switch {
	case bucket == "":
		return nil
	case !subject.ValidBucket(bucket):
		return errInvalidBucket
	case cfg.MaxMsgsPer < 1 || cfg.MaxMsgsPer > maxKVHistory:
		return errInvalidHistory
	}
	return nil
}

// checkRePublish validates a republish directive: the source must be a
// subject filter (empty means all), the destination must not feed the
// stream again, and the pair must form a valid mapping.
func checkRePublish(cfg *StreamConfig) *APIError {
	rp := cfg.RePublish
	if rp == nil {
		return nil
	}
	if rp.Source == "" {
		rp.Source = ">"
	}
	dest := destPattern(rp.Destination)
	for _, s := range cfg.Subjects {
		if subject.Overlap(dest, s) {
			return errInvalidConfigF("stream configuration for republish destination forms a cycle")
		}
	}
	if _, err := newMapping(rp.Source, rp.Destination); err != nil {
		return errInvalidConfigF("stream configuration for republish with transform from '%s' to '%s' not valid", rp.Source, rp.Destination)
	}
	return nil
}

// checkUpdate validates a normalized new configuration against the
// current one, with nats-server's rules for what may change.
func checkUpdate(old, cfg *StreamConfig) *APIError {
	switch {
	case cfg.Name != old.Name:
		return errInvalidConfigF("stream configuration name must match original")
	case cfg.Storage != old.Storage:
		return errInvalidConfigF("stream configuration update can not change storage type")
	case cfg.Retention != old.Retention:
		return errInvalidConfigF("stream configuration update can not change retention policy to/from workqueue")
	case !cfg.DenyDelete && old.DenyDelete:
		return errInvalidConfigF("stream configuration update can not cancel deny message deletes")
	case !cfg.DenyPurge && old.DenyPurge:
		return errInvalidConfigF("stream configuration update can not cancel deny purge")
	case old.AllowMsgTTL && !cfg.AllowMsgTTL:
		return errInvalidConfigF("message TTL status can not be disabled")
	case old.PersistMode != cfg.PersistMode:
		return errInvalidConfigF("stream configuration update can not change persist mode")
	}
	return nil
}

// setStaticMetadata records, in the stored configuration, the API level
// a stream needs: 2 with atomic batch publish, 1 with message TTLs,
// else 0. Metadata keys the
// server adds to responses only are dropped.
func setStaticMetadata(cfg *StreamConfig) {
	md := make(map[string]string, len(cfg.Metadata)+1)
	for k, v := range cfg.Metadata {
		if k == metaServerVersion || k == metaServerLevel {
			continue
		}
		md[k] = v
	}
	level := "0"
	if cfg.AllowMsgTTL || cfg.SubjectDeleteMarkerTTL > 0 {
		level = "1"
	}
	if cfg.AllowAtomicPublish {
		level = "2" // atomic batches came with API level 2 (nats-server 2.12)
	}
	md[metaRequiredLevel] = level
	cfg.Metadata = md
}

// withDynamicMetadata returns a copy of cfg whose metadata also carries
// the server version and API level, as STREAM.INFO and CREATE show them.
func withDynamicMetadata(cfg StreamConfig, version string, level int) StreamConfig {
	md := make(map[string]string, len(cfg.Metadata)+2)
	for k, v := range cfg.Metadata {
		md[k] = v
	}
	md[metaServerVersion] = version
	md[metaServerLevel] = strconv.Itoa(level)
	cfg.Metadata = md
	return cfg
}
