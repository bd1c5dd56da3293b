package jsapi

import (
	"fmt"
	"strconv"
)

// APIError is the error object of a JetStream API response or PubAck:
// {"code":404,"err_code":10059,"description":"stream not found"}.
//
// Clients branch on ErrCode (nats.go turns several of them into typed
// errors, for example 10071 into jetstream.ErrKeyExists), so codes and
// texts are nats-server's, as listed in its errors.json (ADR-7).
type APIError struct {
	Code        int    `json:"code"`
	ErrCode     uint16 `json:"err_code,omitempty"`
	Description string `json:"description,omitempty"`
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("%s (%d)", e.Description, e.ErrCode)
}

// Wire returns the error's wire form (replica.WireError: a batch
// message's refusal crosses a replicated stream's log).
func (e *APIError) Wire() (int, uint16, string) { return e.Code, e.ErrCode, e.Description }

// The wire error table. Entries ending in "F" take a formatted detail
// (their description in nats-server is a template such as "{err}").
// Keep this the only place that knows numeric codes.
var (
	errBadRequest            = &APIError{400, 10003, "bad request"}
	errNotEmptyRequest       = &APIError{400, 10038, "expected an empty request payload"}
	errNoMessageFound        = &APIError{404, 10037, "no message found"}
	errMessageExceedsMaximum = &APIError{400, 10054, "message size exceeds maximum allowed"}
	errStreamMismatch        = &APIError{400, 10056, "stream name in subject does not match request"}
	errStreamNameExist       = &APIError{400, 10058, "stream name already in use with a different configuration"}
	errStreamNotFound        = &APIError{404, 10059, "stream not found"}
	errStreamNotMatch        = &APIError{400, 10060, "expected stream does not match"}
	errSubjectOverlap        = &APIError{400, 10065, "subjects overlap with an existing stream"}
	errReplicasNotSupported  = &APIError{500, 10074, "replicas > 1 not supported in non-clustered mode"}
	errHeaderExceedsMaximum  = &APIError{400, 10097, "header size exceeds maximum allowed of 64k"}
	errNameHasPathSeparators = &APIError{400, 10128, "Stream name can not contain path separators"}
	errReplicasNegative      = &APIError{400, 10133, "replicas count cannot be negative"}
	errMessageTTLInvalid     = &APIError{400, 10165, "invalid per-message TTL"}
	errMessageTTLDisabled    = &APIError{400, 10166, "per-message TTL is disabled"}
	errCountersDisabled      = &APIError{400, 10168, "message counters is disabled"}
	errAtomicPublishDisabled = &APIError{400, 10174, "atomic publish is disabled"}
	// Atomic batch publish (ADR-50; batch.go).
	errAtomicPublishMissingSeq      = &APIError{400, 10175, "atomic publish sequence is missing"}
	errAtomicPublishIncomplete      = &APIError{400, 10176, "atomic publish batch is incomplete"}
	errAtomicPublishInvalidID       = &APIError{400, 10179, "atomic publish batch ID is invalid"}
	errAtomicPublishInvalidCommit   = &APIError{400, 10200, "atomic publish batch commit is invalid"}
	errAtomicPublishDuplicateMsgID  = &APIError{400, 10201, "atomic publish batch contains duplicate message id"}
	errAtomicPublishTooManyInflight = &APIError{429, 10210, "atomic publish too many inflight"}
	errWrongLastSequenceConstant    = &APIError{400, 10164, "wrong last sequence"}
	errRequiredAPILevel             = &APIError{412, 10185, "JetStream minimum api level required"}
	errSchedulesDisabled            = &APIError{400, 10188, "message schedules is disabled"}
	errLastSeqPerSubjInvalid        = &APIError{400, 10193, "missing sequence for expected last sequence per subject"}
	errBatchPublishDisabled         = &APIError{400, 10205, "batch publish is disabled"}
	errSourceHeaderForbidden        = &APIError{400, 10227, "message stream source header is not allowed"}
)

// Errors of Cairn's own. nats-server has no equivalent: it stores any
// subject in a KV bucket and accepts any stream name. They reuse the
// generic codes so that clients treat them as a bad request and an
// invalid configuration.
var (
	errInvalidKey     = &APIError{400, 10003, "invalid key: KV keys may hold only letters, digits and \"-/_=.\", with no empty token"}
	errInvalidBucket  = &APIError{500, 10052, "invalid bucket name: KV bucket names may hold only letters, digits, \"_\" and \"-\""}
	errInvalidHistory = &APIError{500, 10052, "invalid bucket history: a KV bucket keeps 1 to 64 values per key (max_msgs_per_subject)"}
	// errRepublishCycle: republished messages would come back through
	// other streams (nats-server checks a stream against itself only,
	// with this text).
	errRepublishCycle = &APIError{500, 10052, "stream configuration for republish destination forms a cycle"}
)

// errInvalidJSONF is 10025, "invalid JSON: {err}".
func errInvalidJSONF(err error) *APIError {
	return &APIError{400, 10025, "invalid JSON: " + err.Error()}
}

// errSequenceNotFoundF is 10043, "sequence {seq} not found".
func errSequenceNotFoundF(seq uint64) *APIError {
	return &APIError{400, 10043, "sequence " + strconv.FormatUint(seq, 10) + " not found"}
}

// errStreamCreateF is 10049, "{err}".
func errStreamCreateF(err error) *APIError { return &APIError{500, 10049, err.Error()} }

// errStreamDeleteF is 10050, "{err}".
func errStreamDeleteF(err error) *APIError { return &APIError{500, 10050, err.Error()} }

// errStreamGeneralF is 10051, "{err}".
func errStreamGeneralF(err error) *APIError { return &APIError{500, 10051, err.Error()} }

// errInvalidConfigF is 10052, "{err}": every refused stream
// configuration, including features Cairn does not implement.
func errInvalidConfigF(format string, args ...any) *APIError {
	return &APIError{500, 10052, fmt.Sprintf(format, args...)}
}

// errMsgDeleteFailedF is 10057, "{err}".
func errMsgDeleteFailedF(err error) *APIError { return &APIError{500, 10057, err.Error()} }

// errStreamUpdateF is 10069, "{err}".
func errStreamUpdateF(err error) *APIError { return &APIError{500, 10069, err.Error()} }

// errWrongLastMsgIDF is 10070, "wrong last msg ID: {id}".
func errWrongLastMsgIDF(id string) *APIError {
	return &APIError{400, 10070, "wrong last msg ID: " + id}
}

// errWrongLastSequenceF is 10071, "wrong last sequence: {seq}". nats.go
// maps it to ErrKeyExists for Create and to a revision mismatch for
// Update.
func errWrongLastSequenceF(seq uint64) *APIError {
	return &APIError{400, 10071, "wrong last sequence: " + strconv.FormatUint(seq, 10)}
}

// errStoreFailedF is 10077, "{err}", with the store's reason (for example
// "maximum bytes exceeded" when a discard-new stream is full).
func errStoreFailedF(reason string) *APIError { return &APIError{503, 10077, reason} }

// errPurgeFailedF is 10110, "{err}".
func errPurgeFailedF(err error) *APIError { return &APIError{500, 10110, err.Error()} }

// errAtomicPublishUnsupportedHeaderF is 10177, "atomic publish
// unsupported header used: {header}".
func errAtomicPublishUnsupportedHeaderF(header string) *APIError {
	return &APIError{400, 10177, "atomic publish unsupported header used: " + header}
}

// errAtomicPublishTooLargeF is 10199, "atomic publish batch is too
// large: {size}", with the largest batch allowed.
func errAtomicPublishTooLargeF(size int) *APIError {
	return &APIError{400, 10199, "atomic publish batch is too large: " + strconv.Itoa(size)}
}

// errRollupFailedF is 10111, "{err}".
func errRollupFailedF(reason string) *APIError { return &APIError{500, 10111, reason} }
