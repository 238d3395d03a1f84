module example.com/gosessions/step2-memory-sessions

go 1.25.0

require (
	github.com/gorilla/mux v1.8.1
	github.com/gorilla/sessions v1.4.0
)

require github.com/gorilla/securecookie v1.1.2
