// The peer: the same handler func on net/http's own server, no eddy in between.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"

	handler "example.com/gohello/api"
)

func main() {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening %d\n", listener.Addr().(*net.TCPAddr).Port)
	if err := http.Serve(listener, http.HandlerFunc(handler.Hello)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
