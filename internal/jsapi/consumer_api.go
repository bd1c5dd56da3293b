package jsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cairn-db/cairn/internal/consumer"
	"github.com/cairn-db/cairn/internal/store"
	"github.com/cairn-db/cairn/internal/subject"
)

// Consumer API subjects. CREATE has three forms:
//
//	$JS.API.CONSUMER.CREATE.<stream>                   name in the body, or generated
//	$JS.API.CONSUMER.CREATE.<stream>.<name>            (nats-server 2.9+)
//	$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>   the filter may span tokens
const (
	subjConsumerCreate        = "$JS.API.CONSUMER.CREATE.>"
	subjConsumerDurableCreate = "$JS.API.CONSUMER.DURABLE.CREATE.*.*"
	subjConsumerInfo          = "$JS.API.CONSUMER.INFO.*.*"
	subjConsumerDelete        = "$JS.API.CONSUMER.DELETE.*.*"
	subjConsumerNames         = "$JS.API.CONSUMER.NAMES.*"
	subjConsumerList          = "$JS.API.CONSUMER.LIST.*"
)

// Consumer errors (nats-server's errors.json).
var (
	errConsumerNotFound         = &APIError{404, 10014, "consumer not found"}
	errConsumerExists           = &APIError{400, 10148, "consumer already exists"}
	errConsumerDoesNotExist     = &APIError{400, 10149, "consumer does not exist"}
	errConsumerDeliverWildcards = &APIError{400, 10079, "consumer deliver subject has wildcards"}
	errConsumerSmallHeartbeat   = &APIError{400, 10083, "consumer idle heartbeat needs to be >= 100ms"}
	errConsumerFCNeedsHeartbeat = &APIError{400, 10108, "consumer with flow control also needs heartbeats"}
	errConsumerInvalidDeliver   = &APIError{400, 10112, "invalid push consumer deliver subject"}
	errConsumerFilterMismatch   = &APIError{400, 10131, "Consumer create request did not match filtered subject from create subject"}
	errConsumerNameMismatch     = &APIError{400, 10132, "Consumer Durable and Name have to be equal if both are provided"}
	errConsumerDuplicateFilters = &APIError{400, 10136, "consumer cannot have both FilterSubject and FilterSubjects specified"}
	errConsumerOverlapFilters   = &APIError{400, 10138, "consumer subject filters cannot overlap"}
	errConsumerEmptyFilter      = &APIError{400, 10139, "consumer filter in FilterSubjects cannot be empty"}
	errConsumerFilterNotSubset  = &APIError{400, 10093, "consumer filter subject is not a valid subset of the interest subjects"}
	errConsumerReplicasExceed   = &APIError{400, 10126, "consumer config replica count exceeds parent stream"}
	errConsumerAckPolicyInvalid = &APIError{400, 10181, "consumer ack policy invalid"}
	errConsumerDeliverCycle     = &APIError{400, 10081, "consumer deliver subject forms a cycle"}
	errConsumerAckWaitNegative  = &APIError{400, 10183, "consumer ack wait needs to be positive"}
	errConsumerBackOffNegative  = &APIError{400, 10184, "consumer backoff needs to be positive"}
	errConsumerReplayInvalid    = &APIError{400, 10182, "consumer replay policy invalid"}
)

// errConsumerInvalidPolicyF is 10094, "{err}".
func errConsumerInvalidPolicyF(format string, args ...any) *APIError {
	return &APIError{400, 10094, fmt.Sprintf(format, args...)}
}

// errConsumerCreateF is 10012, "{err}": also every consumer feature
// Cairn does not implement, named.
func errConsumerCreateF(format string, args ...any) *APIError {
	return &APIError{500, 10012, fmt.Sprintf(format, args...)}
}

// registerConsumerAPI subscribes the consumer endpoints.
func (a *API) registerConsumerAPI() error {
	for subj, h := range map[string]func(*request){
		subjConsumerCreate:        a.consumerCreate,
		subjConsumerDurableCreate: a.consumerDurableCreate,
		subjConsumerInfo:          a.consumerInfo,
		subjConsumerDelete:        a.consumerDelete,
		subjConsumerNames:         a.consumerNames,
		subjConsumerList:          a.consumerList,
	} {
		if err := a.handle(subj, h); err != nil {
			return err
		}
	}
	return nil
}

func (a *API) consumerDurableCreate(req *request) {
	a.respondError(req, typeConsumerCreate, errConsumerCreateF("durable consumers are not supported by Cairn"))
}

func (a *API) consumerCreate(req *request) {
	if !a.checkLevel(req, typeConsumerCreate) {
		return
	}
	// $JS.API.CONSUMER.CREATE.<stream>[.<name>[.<filter...>]]
	rest := strings.TrimPrefix(req.subject, "$JS.API.CONSUMER.CREATE.")
	streamName, rest, _ := strings.Cut(rest, ".")
	name, filter, _ := strings.Cut(rest, ".")
	s := a.lookup(streamName)
	if s == nil {
		a.respondError(req, typeConsumerCreate, errStreamNotFound)
		return
	}
	if err := s.followerReady(); err != nil {
		a.respondError(req, typeConsumerCreate, ErrClusterUnavailable)
		return
	}
	watch := s.kvStart() // metrics.go: a consumer on a bucket is a watch
	defer func() { observeWatch(&watch, ResultError) }()
	var body createConsumerRequest
	if err := json.Unmarshal(req.data, &body); err != nil {
		a.respondError(req, typeConsumerCreate, errInvalidJSONF(err))
		return
	}
	if body.Stream != streamName {
		a.respondError(req, typeConsumerCreate, errStreamMismatch)
		return
	}
	if body.Config == nil {
		a.respondError(req, typeConsumerCreate, errConsumerCreateF("consumer config required"))
		return
	}
	cfg := body.Config
	if name != "" {
		if cfg.Name != "" && cfg.Name != name {
			a.respondError(req, typeConsumerCreate, errConsumerNameMismatch)
			return
		}
		cfg.Name = name
	}
	if filter != "" && (cfg.FilterSubject != filter || len(cfg.FilterSubjects) > 0) {
		a.respondError(req, typeConsumerCreate, errConsumerFilterMismatch)
		return
	}
	ccfg, apiErr := a.checkConsumerConfig(s, cfg)
	if apiErr != nil {
		a.respondError(req, typeConsumerCreate, apiErr)
		return
	}
	if a.deliveryCycle(s.name, nil, ccfg.DeliverSubject) {
		a.respondError(req, typeConsumerCreate, errConsumerDeliverCycle)
		return
	}
	if ccfg.DeliverSubject != "" && req.caller != nil && !req.caller.MayBeAnsweredOn(ccfg.DeliverSubject) {
		// A push consumer publishes to its deliver subject on the
		// requester's behalf, like an answer to its reply subject: the
		// reply rule applies (internal/server reply_rule.go).
		// nats-server 2.15.2 does not check it.
		a.respondError(req, typeConsumerCreate, errDeliverSubjectNotPermittedF(ccfg.DeliverSubject))
		return
	}
	_, getErr := a.consumers.Get(streamName, ccfg.Name)
	if body.Action == "update" && getErr != nil {
		a.respondError(req, typeConsumerCreate, errConsumerDoesNotExist)
		return
	}
	if getErr != nil {
		release, e := a.reserveConsumer(s, ccfg.Name)
		if e != nil {
			a.respondError(req, typeConsumerCreate, e)
			return
		}
		defer release()
	}
	if body.Action == "create" {
		if old, err := a.consumers.Get(streamName, ccfg.Name); err == nil && !sameConsumer(old.Config(), ccfg) {
			a.respondError(req, typeConsumerCreate, errConsumerExists)
			return
		}
	}
	c, err := a.consumers.Create(s.st, ccfg)
	switch {
	case errors.Is(err, consumer.ErrExists):
		a.respondError(req, typeConsumerCreate, errConsumerExists)
		return
	case errors.Is(err, store.ErrSnapshotBudget):
		// The open watch snapshots hold the server's budget of keys
		// (store.Options.MaxSnapshotEntries): nats-server's answer when
		// a consumer does not fit, 503, which nats.go's Watch returns.
		a.respondError(req, typeConsumerCreate, errInsufficientResources)
		return
	case err != nil:
		a.respondError(req, typeConsumerCreate, errConsumerCreateF("%v", err))
		return
	}
	if getErr != nil && a.createdCycle(s.name, ccfg.DeliverSubject) {
		// A concurrent creation or stream update closed a loop that the
		// check above could not see yet.
		_ = a.consumers.Delete(streamName, c.Name())
		a.respondError(req, typeConsumerCreate, errConsumerDeliverCycle)
		return
	}
	observeWatch(&watch, ResultOK)
	a.respond(req, &consumerInfoResponse{apiResponse{Type: typeConsumerCreate}, a.consumerInfoOf(c, cfg)}, false)
}

func sameConsumer(a, b consumer.Config) bool {
	return a.DeliverSubject == b.DeliverSubject && a.DeliverPolicy == b.DeliverPolicy &&
		slices.Equal(a.FilterSubjects, b.FilterSubjects) && a.HeadersOnly == b.HeadersOnly
}

var deliverPolicies = map[string]consumer.DeliverPolicy{
	"": consumer.DeliverAll, "all": consumer.DeliverAll, "last": consumer.DeliverLast, "new": consumer.DeliverNew,
	"by_start_sequence": consumer.DeliverByStartSequence, "by_start_time": consumer.DeliverByStartTime,
	"last_per_subject": consumer.DeliverLastPerSubject,
}

// checkConsumerConfig validates a push consumer configuration like
// nats-server and fills in its defaults (the filled config is what info
// echoes). It refuses, by name, the features Cairn does not implement.
func (a *API) checkConsumerConfig(s *stream, cfg *ConsumerConfig) (consumer.Config, *APIError) {
	var out consumer.Config
	if cfg.Name != "" && !validAssetName(cfg.Name) || cfg.Durable != "" && !validAssetName(cfg.Durable) {
		return out, errInvalidConfigF("consumer name can not contain '.', '*', '>', '\\', '/'")
	}
	switch {
	case cfg.Durable != "":
		return out, errConsumerCreateF("durable consumers are not supported by Cairn")
	case cfg.DeliverSubject == "":
		return out, errConsumerCreateF("pull consumers are not supported by Cairn: set a deliver subject")
	case cfg.DeliverGroup != "":
		return out, errConsumerCreateF("queue-group push consumers (deliver_group) are not supported by Cairn")
	case len(cfg.PriorityGroups) > 0:
		return out, &APIError{400, 10178, "priority groups can not be used with push consumers"}
	}
	if cfg.Replicas < 0 {
		return out, errReplicasNegative
	}
	if cfg.Replicas > 1 {
		return out, errConsumerReplicasExceed
	}
	switch cfg.AckPolicy {
	case "", "none":
		cfg.AckPolicy = "none"
	case "explicit", "all":
		return out, errConsumerCreateF("ack policy %q is not supported by Cairn: only \"none\"", cfg.AckPolicy)
	default:
		return out, errConsumerAckPolicyInvalid
	}
	switch cfg.ReplayPolicy {
	case "", "instant":
		cfg.ReplayPolicy = "instant"
	case "original":
		return out, errConsumerCreateF("replay policy \"original\" is not supported by Cairn")
	default:
		return out, errConsumerReplayInvalid
	}
	for _, b := range cfg.BackOff {
		if b < 0 {
			return out, errConsumerBackOffNegative
		}
	}
	if cfg.AckWait < 0 {
		return out, errConsumerAckWaitNegative
	}
	if subject.HasWildcard(cfg.DeliverSubject) {
		return out, errConsumerDeliverWildcards
	}
	if !subject.ValidLiteral(cfg.DeliverSubject) || deliversIntoAPI(cfg.DeliverSubject) {
		return out, errConsumerInvalidDeliver
	}
	if deliveryFormsCycle(s.config().Subjects, cfg.DeliverSubject) {
		return out, errConsumerDeliverCycle
	}
	if cfg.Heartbeat > 0 && cfg.Heartbeat < 100*time.Millisecond {
		return out, errConsumerSmallHeartbeat
	}
	if cfg.FlowControl && cfg.Heartbeat <= 0 {
		return out, errConsumerFCNeedsHeartbeat
	}
	filters, apiErr := checkFilters(s, cfg)
	if apiErr != nil {
		return out, apiErr
	}
	policy, ok := deliverPolicies[cfg.DeliverPolicy]
	if !ok {
		return out, errConsumerInvalidPolicyF("consumer deliver policy %q is invalid", cfg.DeliverPolicy)
	}
	if apiErr := checkStart(cfg, policy, len(filters)); apiErr != nil {
		return out, apiErr
	}
	if cfg.DeliverPolicy == "" {
		cfg.DeliverPolicy = "all"
	}
	if cfg.Name == "" {
		cfg.Name = newConsumerName()
	}
	if apiErr := a.checkDurations(s, cfg); apiErr != nil {
		return out, apiErr
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	out = consumer.Config{
		Name: cfg.Name, DeliverSubject: cfg.DeliverSubject, DeliverPolicy: policy,
		OptStartSeq: cfg.OptStartSeq, FilterSubjects: filters, HeadersOnly: cfg.HeadersOnly,
		FlowControl: cfg.FlowControl, IdleHeartbeat: cfg.Heartbeat, InactiveThreshold: cfg.InactiveThreshold,
	}
	if cfg.OptStartTime != nil {
		out.OptStartTime = clampTime(*cfg.OptStartTime)
	}
	return out, nil
}

// checkDurations applies nats-server's defaults and limits to a
// consumer's durations, then clamps what a client could make
// unbounded: negative heartbeats and thresholds become unset (as
// nats-server does outside pedantic mode), a threshold above the
// stream's consumer_limits is refused (10153), and the threshold of
// these ephemeral consumers is clamped to the server's
// MaxInactiveThreshold. A refusal would break clients that ask for a
// long threshold (nats.go's ordered consumers use 5 minutes, some
// applications hours), while a clamp is invisible to a consumer whose
// subscriber is present: it only bounds how long an abandoned consumer
// lingers. The clamped value is what consumer info shows.
func (a *API) checkDurations(s *stream, cfg *ConsumerConfig) *APIError {
	cfg.Heartbeat = clampDuration(max(cfg.Heartbeat, 0))
	cfg.InactiveThreshold = max(cfg.InactiveThreshold, 0)
	limit := s.config().ConsumerLimits.InactiveThreshold
	if cfg.InactiveThreshold == 0 && limit > 0 {
		cfg.InactiveThreshold = limit
	}
	if limit > 0 && cfg.InactiveThreshold > limit {
		return errInactiveThresholdExcessF(limit)
	}
	if cfg.InactiveThreshold == 0 {
		cfg.InactiveThreshold = consumer.DefaultInactiveThreshold
	}
	cfg.InactiveThreshold = min(cfg.InactiveThreshold, a.opts.MaxInactiveThreshold)
	return nil
}

// createdCycle checks again, once a consumer of stream delivering to
// deliver is registered, that its deliveries cannot come back to
// stream. It holds a.ctl, as stream creations and updates do while they
// check, so that of a stream change and a consumer creation racing each
// other, the later check sees both.
func (a *API) createdCycle(stream, deliver string) bool {
	a.ctl.Lock()
	defer a.ctl.Unlock()
	return a.deliveryCycle(stream, nil, deliver)
}

// deliversIntoAPI reports a deliver subject in the JetStream API. A
// consumer's delivery goroutine runs in-process handlers itself, so its
// messages would be API requests made by the consumer: a consumer
// deleting itself waited in Stop for its own goroutine, forever, and one
// deleting its stream held the API's lock while it did. nats-server
// queues API requests and accepts such a subject; no client needs one.
func deliversIntoAPI(deliver string) bool {
	return strings.HasPrefix(deliver, apiPrefix)
}

// deliveryFormsCycle reports a deliver subject that is one of the
// stream's own subjects: every delivery would be stored again and
// delivered again, forever (nats-server's check, 10081).
func deliveryFormsCycle(streamSubjects []string, deliver string) bool {
	for _, ss := range streamSubjects {
		if subject.Match(ss, deliver) {
			return true
		}
	}
	return false
}

// checkFilters validates filter_subject / filter_subjects against each
// other and the stream's subjects.
func checkFilters(s *stream, cfg *ConsumerConfig) ([]string, *APIError) {
	if cfg.FilterSubject != "" && len(cfg.FilterSubjects) > 0 {
		return nil, errConsumerDuplicateFilters
	}
	filters := cfg.FilterSubjects
	if cfg.FilterSubject != "" {
		filters = []string{cfg.FilterSubject}
	}
	// Tries keep both checks linear in the number of filters: a client
	// may send many.
	var streamSubjects, earlier subjectTrie
	if len(filters) > 0 {
		for _, ss := range s.config().Subjects {
			streamSubjects.insert(ss)
		}
	}
	for _, f := range filters {
		if f == "" {
			return nil, errConsumerEmptyFilter
		}
		if !subject.Valid(f) {
			return nil, errInvalidConfigF("consumer filter subject is not valid: %q", f)
		}
		if !streamSubjects.overlaps(f) {
			return nil, errConsumerFilterNotSubset
		}
		if earlier.overlaps(f) {
			return nil, errConsumerOverlapFilters
		}
		earlier.insert(f)
	}
	return filters, nil
}

// checkStart enforces the deliver policy's start options, with
// nats-server's texts.
func checkStart(cfg *ConsumerConfig, policy consumer.DeliverPolicy, nfilters int) *APIError {
	names := map[consumer.DeliverPolicy]string{
		consumer.DeliverAll: "all", consumer.DeliverLast: "last", consumer.DeliverNew: "new",
		consumer.DeliverLastPerSubject: "last per subject", consumer.DeliverByStartSequence: "by start sequence",
		consumer.DeliverByStartTime: "by start time",
	}
	dp := names[policy]
	badStart := func(what string) *APIError {
		return errConsumerInvalidPolicyF("consumer delivery policy is deliver %s, but optional start %s is also set", dp, what)
	}
	notSet := func(what string) *APIError {
		return errConsumerInvalidPolicyF("consumer delivery policy is deliver %s, but optional %s is not set", dp, what)
	}
	switch policy {
	case consumer.DeliverByStartSequence:
		if cfg.OptStartSeq == 0 {
			return notSet("start sequence")
		}
		if cfg.OptStartTime != nil {
			return badStart("time")
		}
	case consumer.DeliverByStartTime:
		if cfg.OptStartTime == nil {
			return notSet("start time")
		}
		if cfg.OptStartSeq > 0 {
			return badStart("sequence")
		}
	default:
		if cfg.OptStartSeq > 0 {
			return badStart("sequence")
		}
		if cfg.OptStartTime != nil {
			return badStart("time")
		}
		if policy == consumer.DeliverLastPerSubject && nfilters == 0 {
			return notSet("filter subject")
		}
	}
	return nil
}

func (a *API) consumerInfo(req *request) {
	streamName, name := token(req.subject, 4), token(req.subject, 5)
	if a.lookup(streamName) == nil {
		a.respondError(req, typeConsumerInfo, errStreamNotFound)
		return
	}
	c, err := a.consumers.Get(streamName, name)
	if err != nil {
		a.respondError(req, typeConsumerInfo, errConsumerNotFound)
		return
	}
	a.respond(req, &consumerInfoResponse{apiResponse{Type: typeConsumerInfo}, a.consumerInfoOf(c, nil)}, false)
}

func (a *API) consumerDelete(req *request) {
	streamName, name := token(req.subject, 4), token(req.subject, 5)
	if a.lookup(streamName) == nil {
		a.respondError(req, typeConsumerDelete, errStreamNotFound)
		return
	}
	if err := a.consumers.Delete(streamName, name); err != nil {
		a.respondError(req, typeConsumerDelete, errConsumerNotFound)
		return
	}
	a.respond(req, &consumerDeleteResponse{apiResponse{Type: typeConsumerDelete}, true}, false)
}

func (a *API) consumerNames(req *request) {
	streamName := token(req.subject, 4)
	if a.lookup(streamName) == nil {
		a.respondError(req, typeConsumerNames, errStreamNotFound)
		return
	}
	offset, ok := a.pageOffset(req, typeConsumerNames)
	if !ok {
		return
	}
	all := a.consumers.List(streamName)
	lo, hi := page(len(all), offset, namesLimit)
	resp := &consumerNamesResponse{apiResponse: apiResponse{Type: typeConsumerNames}, Consumers: []string{}}
	resp.apiPaged = apiPaged{Total: len(all), Offset: lo, Limit: namesLimit}
	for _, c := range all[lo:hi] {
		resp.Consumers = append(resp.Consumers, c.Name())
	}
	a.respond(req, resp, false)
}

func (a *API) consumerList(req *request) {
	streamName := token(req.subject, 4)
	if a.lookup(streamName) == nil {
		a.respondError(req, typeConsumerList, errStreamNotFound)
		return
	}
	offset, ok := a.pageOffset(req, typeConsumerList)
	if !ok {
		return
	}
	all := a.consumers.List(streamName)
	lo, hi := page(len(all), offset, listLimit)
	resp := &consumerListResponse{apiResponse: apiResponse{Type: typeConsumerList}, Consumers: []*ConsumerInfo{}}
	resp.apiPaged = apiPaged{Total: len(all), Offset: lo, Limit: listLimit}
	for _, c := range all[lo:hi] {
		resp.Consumers = append(resp.Consumers, a.consumerInfoOf(c, nil))
	}
	a.respond(req, resp, false)
}

// pageOffset reads the optional {"offset":N} body of a list request.
func (a *API) pageOffset(req *request, typ string) (int, bool) {
	var body consumerPagedRequest
	if !isEmptyRequest(req.data) {
		if err := json.Unmarshal(req.data, &body); err != nil {
			a.respondError(req, typ, errInvalidJSONF(err))
			return 0, false
		}
	}
	return max(body.Offset, 0), true
}

// consumerInfoOf renders a consumer's info. cfg, when given, is the
// JSON configuration as created; otherwise it is rebuilt.
func (a *API) consumerInfoOf(c *consumer.Consumer, cfg *ConsumerConfig) *ConsumerInfo {
	in := c.Info()
	if cfg == nil {
		cfg = jsonConsumerConfig(in.Config)
	}
	info := &ConsumerInfo{
		Stream:     in.Stream,
		Name:       in.Name,
		Created:    in.Created,
		Config:     *cfg,
		Delivered:  SequenceInfo{Consumer: in.Delivered.Consumer, Stream: in.Delivered.Stream},
		AckFloor:   SequenceInfo{Consumer: in.Delivered.Consumer, Stream: in.Delivered.Stream},
		NumPending: in.NumPending,
		Cluster:    &ClusterInfo{Name: a.opts.ClusterName, Leader: a.opts.ServerName},
		PushBound:  in.PushBound,
		TimeStamp:  now(),
	}
	if !in.Delivered.Last.IsZero() {
		last := in.Delivered.Last.UTC()
		info.Delivered.Last = &last
		info.AckFloor.Last = &last
	}
	return info
}

// jsonConsumerConfig rebuilds the JSON configuration of a running
// consumer.
func jsonConsumerConfig(c consumer.Config) *ConsumerConfig {
	cfg := &ConsumerConfig{
		Name: c.Name, DeliverSubject: c.DeliverSubject, AckPolicy: "none", ReplayPolicy: "instant",
		OptStartSeq: c.OptStartSeq, HeadersOnly: c.HeadersOnly, FlowControl: c.FlowControl,
		Heartbeat: c.IdleHeartbeat, InactiveThreshold: c.InactiveThreshold, Replicas: 1,
	}
	for name, p := range deliverPolicies {
		if p == c.DeliverPolicy && name != "" {
			cfg.DeliverPolicy = name
		}
	}
	if !c.OptStartTime.IsZero() {
		t := c.OptStartTime
		cfg.OptStartTime = &t
	}
	if len(c.FilterSubjects) == 1 {
		cfg.FilterSubject = c.FilterSubjects[0]
	} else {
		cfg.FilterSubjects = c.FilterSubjects
	}
	return cfg
}

// validAssetName applies nats-server's rule for stream and consumer
// names: no '.', '*', '>', path separators or white space.
func validAssetName(name string) bool {
	return subject.ValidStreamName(name)
}

func newConsumerName() string { return consumer.NewName() }

// errRepublishNotPermittedF refuses a stream whose republish
// destination covers subjects the requester may not publish to; like
// errDeliverSubjectNotPermittedF, it has no nats-server counterpart.
func errRepublishNotPermittedF(dest string) *APIError {
	return &APIError{Code: 403, Description: "Permissions Violation for Publish to " + strconv.Quote(dest) + ": a stream's republish destination must be subjects the requester may publish to"}
}

// errCaptureNotPermittedF refuses a stream subject covering subjects
// the requester may not subscribe to; like errRepublishNotPermittedF,
// it has no nats-server counterpart.
func errCaptureNotPermittedF(subj string) *APIError {
	return &APIError{Code: 403, Description: "Permissions Violation for Subscription to " + strconv.Quote(subj) + ": a stream's subjects must be ones the requester may subscribe to"}
}

// errDeliverSubjectNotPermittedF refuses a push consumer whose deliver
// subject the requester may neither publish to nor receive on. It has
// no nats-server counterpart (nats-server does not check), hence no
// err_code; the text says what to change.
func errDeliverSubjectNotPermittedF(subj string) *APIError {
	return &APIError{Code: 403, Description: "Permissions Violation for Publish to " + strconv.Quote(subj) + ": a consumer's deliver subject must be one the requester may publish to or subscribes to"}
}
