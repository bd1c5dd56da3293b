package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/cairn-db/cairn/kvtxn"
)

const kvTxnLong = `Apply several writes to keys of BUCKET as one transaction: all of them or
none. The operations are read from FILE, or from standard input when FILE is
absent or "-", one per line:

  put KEY VALUE              set KEY
  create KEY VALUE           set KEY only if it has no value
  update KEY VALUE REVISION  set KEY only if its latest revision is REVISION
  del KEY [REVISION]         delete KEY (only at REVISION, if given)
  purge KEY                  delete KEY and its history

Words are separated by spaces or tabs. Quote a value with spaces in double
quotes, with Go escapes ("two words", "line\nbreak", "" for empty), or in
single quotes, taken literally. Lines starting with # are comments. A
transaction names each key once.

The transaction is committed as one atomic batch: every condition is
checked at once, and if one fails nothing is written and the error names
the key and its current revision. On success every write's new revision is
printed. The bucket must allow transactions: "cairn kv edit BUCKET
--allow-txn" (nats-server 2.12+ and cairn-server).`

func newKVTxnCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "txn BUCKET [FILE]",
		Short: "Apply several writes atomically (a transaction)",
		Long:  kvTxnLong,
		Example: `  printf 'update alice 70 12\nupdate bob 130 14\n' | cairn kv txn accounts
  cairn kv txn my-kv changes.txt --json`,
		Args:              argsRange(1, 2),
		ValidArgsFunction: a.completeBucket,
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket := args[0]
			stmts, err := a.readScript(args)
			if err != nil {
				return err
			}
			if _, err := a.bucket(cmd.Context(), bucket); err != nil {
				return err
			}
			tx := kvtxn.Begin(a.js, bucket)
			if err := tx.Apply(stmts); err != nil {
				return &exitError{code: 1, kind: "bad_script", msg: err.Error()}
			}
			res, err := tx.Commit(cmd.Context())
			if err != nil {
				return txnError(err, bucket, stmts)
			}
			return a.printTxn(bucket, res)
		},
	}
}

// readScript parses the transaction script named by args[1], or standard
// input.
func (a *app) readScript(args []string) ([]kvtxn.Statement, error) {
	var (
		r    io.Reader = a.stdin
		name           = "standard input"
	)
	if len(args) > 1 && args[1] != "-" {
		f, err := os.Open(args[1])
		if err != nil {
			return nil, &exitError{code: 1, kind: "file", msg: fmt.Sprintf("cannot read the transaction: %v", err)}
		}
		defer f.Close()
		r, name = f, args[1]
	} else if f, ok := a.stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return nil, usageErrorf("no FILE given: name a file of operations or pipe them on standard input")
		}
	}
	stmts, err := kvtxn.ParseScript(r)
	var se *kvtxn.ScriptError
	switch {
	case errors.As(err, &se):
		return nil, &exitError{code: 1, kind: "bad_script", msg: fmt.Sprintf("%s, line %d: %s", name, se.Line, se.Msg)}
	case err != nil:
		return nil, &exitError{code: 1, kind: "file", msg: fmt.Sprintf("cannot read the transaction from %s: %v", name, err)}
	case len(stmts) == 0:
		return nil, &exitError{code: 1, kind: "bad_script", msg: fmt.Sprintf("%s holds no operations: nothing to commit", name)}
	}
	return stmts, nil
}

// errCodeBatchTooLarge is nats-server's err_code for a batch over its
// message limit (ADR-50; 1000 by default).
const errCodeBatchTooLarge = 10199

// txnError turns the errors of kvtxn into messages that say what to do.
func txnError(err error, bucket string, stmts []kvtxn.Statement) error {
	var (
		ce *kvtxn.ConflictError
		ae *jetstream.APIError
	)
	switch {
	case errors.As(err, &ce):
		line := 0
		for _, st := range stmts {
			if st.Key == ce.Key {
				line = st.Line
			}
		}
		return &exitError{code: 1, kind: "conflict", msg: "transaction not applied: " + conflictText(ce, line)}
	case errors.Is(err, kvtxn.ErrNotEnabled):
		return &exitError{code: 1, kind: "txn_disabled", msg: txnDisabledText(bucket)}
	case errors.As(err, &ae) && ae.ErrorCode == errCodeBatchTooLarge:
		return &exitError{code: 1, kind: "txn_too_large", msg: fmt.Sprintf("transaction not applied: its %d operations are more than the server takes in one transaction (%s): split it", len(stmts), ae.Description)}
	}
	return onKey(err, bucket, "")
}

func txnDisabledText(bucket string) string {
	return fmt.Sprintf("bucket %q does not allow transactions (its stream has allow_atomic off): enable them with \"cairn kv edit %s --allow-txn\" (needs cairn-server or nats-server 2.12+)", bucket, bucket)
}

// conflictText explains a failed condition.
func conflictText(ce *kvtxn.ConflictError, line int) string {
	at := ""
	if line > 0 {
		at = fmt.Sprintf(" (line %d)", line)
	}
	var now string
	switch {
	case ce.Current == 0:
		now = "it has no revision"
	case ce.CurrentOp != jetstream.KeyValuePut:
		now = fmt.Sprintf("its latest revision is %d (a %s marker)", ce.Current, opName(ce.CurrentOp))
	default:
		now = fmt.Sprintf("its latest revision is %d", ce.Current)
	}
	if ce.Op == kvtxn.OpCreate {
		return fmt.Sprintf("create of key %q%s failed: the key exists, %s", ce.Key, at, now)
	}
	return fmt.Sprintf("%s of key %q at revision %d%s failed: %s", ce.Op, ce.Key, ce.Expected, at, now)
}

// txnJSON is the --json output of "kv txn".
type txnJSON struct {
	Bucket   string        `json:"bucket"`
	Revision uint64        `json:"revision"`
	Writes   []kvtxn.Write `json:"writes"`
}

func (a *app) printTxn(bucket string, res *kvtxn.Result) error {
	if a.json {
		return a.printJSON(txnJSON{Bucket: bucket, Revision: res.Revision, Writes: res.Writes})
	}
	fmt.Fprintf(a.stdout, "%s: committed %d operation(s) at revision %d\n\n", bucket, len(res.Writes), res.Revision)
	t := newTable("OPERATION", "KEY", "REVISION")
	for _, w := range res.Writes {
		t.add(w.Op, w.Key, w.Revision)
	}
	return t.write(a.stdout)
}
