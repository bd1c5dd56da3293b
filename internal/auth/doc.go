// Package auth decides who a connection is. The server hands it the
// credentials a client sent in CONNECT (and the nonce the server put in
// INFO); it answers with an [Identity] or an error. It knows nothing of
// sockets, INFO or the wire: the server decides when to ask and what to
// send back (nats-server's -ERR 'Authorization Violation' for any
// failure).
//
// # Data model
//
// A [Config] is the server's authentication configuration, as the
// config file's `authorization {}` block and `no_auth_user` (or the
// --user, --pass and --auth flags) describe it. One of three methods is
// in force:
//
//   - a token: every client sends the same auth_token;
//   - a single user with a password;
//   - a users list, whose entries are either {user, password} or {nkey};
//     no_auth_user names the entry a client sending no credentials is.
//
// Passwords and tokens that look like bcrypt hashes ("$2a$", "$2b$",
// "$2x$" or "$2y$" followed by a two-digit cost and "$") are checked with
// bcrypt; anything else is compared in constant time (over SHA-256
// digests, so not even the length leaks). An nkey user proves it holds
// the private key by signing the ASCII nonce from INFO with Ed25519;
// sig is base64 RawURL (standard base64 is accepted too).
//
// [New] validates a Config once and returns an [Authenticator], which is
// immutable and safe for concurrent use: the server calls
// [Authenticator.Authenticate] once per connection, never per message.
//
// An Identity carries the user name (or the nkey) and how it was proved.
// Permissions are those of the users list entry ([NewPermissions]);
// Account is a placeholder that the accounts work fills in; today
// everyone shares the global account.
//
// # Example
//
// A server configured with
//
//	authorization {
//	  timeout: 1
//	  users: [
//	    {user: alice, password: "$2a$11$..."}   # bcrypt of "s3cret"
//	    {nkey: UAQK6TCY3M7DOLRYD5WV7PI22WXI7FBD7MBXIVHRLTZOO2R3EXTWWFU2}
//	  ]
//	}
//	no_auth_user: alice
//
// becomes
//
//	a, err := auth.New(auth.Config{
//		Timeout:    time.Second,
//		Users:      []auth.User{{Name: "alice", Password: "$2a$11$..."}, {Nkey: "UAQK6..."}},
//		NoAuthUser: "alice",
//	})
//
// a.Required() and a.NonceRequired() are true, so INFO carries
// "auth_required":true and a fresh nonce, say "umFvdmXW_UA5No4". Then:
//
//	a.Authenticate(auth.Credentials{User: "alice", Password: "s3cret"}, nonce)
//		→ Identity{Name: "alice", Method: auth.MethodPassword}
//	a.Authenticate(auth.Credentials{Nkey: "UAQK6...", Sig: sign(nonce)}, nonce)
//		→ Identity{Name: "UAQK6...", Method: auth.MethodNkey}
//	a.Authenticate(auth.Credentials{}, nonce)
//		→ Identity{Name: "alice", Method: auth.MethodNoAuthUser}
//	a.Authenticate(auth.Credentials{User: "alice", Password: "guess"}, nonce)
//		→ error: auth: authentication error - User "alice"
package auth
