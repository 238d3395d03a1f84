module example.com/gosessions/step3-bcrypt-login

go 1.25.0

require (
	github.com/gorilla/mux v1.8.1
	github.com/gorilla/sessions v1.4.0
	golang.org/x/crypto v0.55.0
	golang.org/x/sync v0.22.0
)

require github.com/gorilla/securecookie v1.1.2
