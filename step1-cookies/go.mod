module example.com/gosessions/step1-cookies

go 1.25.0

require (
	github.com/gorilla/mux v1.8.1
	github.com/gorilla/securecookie v1.1.2
	github.com/gorilla/sessions v1.4.0
)
