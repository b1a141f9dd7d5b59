// The handler both sides serve: through eddy, and through a bare net/http server (peer/).
package handler

import "net/http"

// Hello answers every request with a short text.
func Hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("hello"))
}
