// Package e2e proves every step of the tutorial in a real browser.
//
// The tests build each step's server, start it on a free port, and drive
// headless Chromium through github.com/chromedp/chromedp, using the pages the
// way a reader would: forms, links, reload and the Back button. The package
// has no code of its own; everything is in the _test.go files.
//
// Run from this folder:
//
//	go test ./...                              # the flows
//	go test ./... -args -update-screenshots    # and the pictures in ../docs/screenshots
package e2e
