module example.com/gosessions/step4-persistent-store

go 1.25.0

require (
	github.com/gorilla/mux v1.8.1
	github.com/gorilla/sessions v1.4.0
	github.com/mattn/go-sqlite3 v1.14.53
	golang.org/x/crypto v0.55.0
	golang.org/x/sync v0.22.0
)

require github.com/gorilla/securecookie v1.1.2
