package jsapi

import (
	"fmt"
)

// errNotEnabledForAccount answers every API request of an account
// without JetStream on a server with accounts.
var errNotEnabledForAccount = &APIError{503, 10039, "JetStream not enabled for account"}

// disabledEndpoints are the API subjects an account without JetStream
// is answered on, with the response type of each and the fields
// nats-server adds to its error answer (paged lists); direct gets and
// other subjects have no responder, as in nats-server.
var disabledEndpoints = []struct {
	subject, typ, extra string
}{
	{subjAccountInfo, typeAccountInfo, ""},
	{subjCreate, typeStreamCreate, ""},
	{subjUpdate, typeStreamUpdate, ""},
	{subjInfo, typeStreamInfo, `,"total":0,"offset":0,"limit":0`},
	{subjDelete, typeStreamDelete, ""},
	{subjNames, typeStreamNames, `,"total":0,"offset":0,"limit":0,"streams":null`},
	{subjList, typeStreamList, `,"total":0,"offset":0,"limit":0,"streams":[]`},
	{subjPurge, typeStreamPurge, ""},
	{subjMsgGet, typeMsgGet, ""},
	{subjMsgDelete, typeMsgDelete, ""},
	{subjSnapshot, typeStreamSnapshot, ""},
	{subjRestore, typeStreamRestore, ""},
	{subjConsumerCreate, typeConsumerCreate, ""},
	{subjConsumerDurableCreate, typeConsumerCreate, ""},
	{subjConsumerInfo, typeConsumerInfo, ""},
	{subjConsumerDelete, typeConsumerDelete, ""},
	{subjConsumerNames, typeConsumerNames, `,"total":0,"offset":0,"limit":0,"consumers":[]`},
	{subjConsumerList, typeConsumerList, `,"total":0,"offset":0,"limit":0,"consumers":[]`},
}

// ServeDisabled answers the JetStream API of an account without
// JetStream (on a server with accounts, those not enabled in the config,
// and the global account) with nats-server's 10039 error, so that
// clients say "JetStream not enabled for account" rather than time out.
// It returns the function that stops it.
func ServeDisabled(bus Bus) (stop func(), err error) {
	var unsubs []func()
	stop = func() {
		for _, u := range unsubs {
			u()
		}
	}
	for _, e := range disabledEndpoints {
		body := []byte(fmt.Sprintf(`{"type":%q,"error":{"code":%d,"err_code":%d,"description":%q}%s}`,
			e.typ, errNotEnabledForAccount.Code, errNotEnabledForAccount.ErrCode, errNotEnabledForAccount.Description, e.extra))
		unsub, err := bus.Subscribe(e.subject, func(_, reply string, _, _ []byte) {
			if reply != "" {
				bus.Publish(reply, "", nil, body)
			}
		})
		if err != nil {
			stop()
			return nil, fmt.Errorf("jsapi: subscribe %s: %w", e.subject, err)
		}
		unsubs = append(unsubs, unsub)
	}
	return stop, nil
}
