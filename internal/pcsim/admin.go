package pcsim

import (
	"net/http"
	"time"
)

// adminRoutes registers /_pcsim: no auth, no faults, no latency, not counted in Stats, so
// a test harness can always look inside and steer the simulator.
func (s *Server) adminRoutes() {
	s.mux.HandleFunc("GET /_pcsim/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStored(w, encode(response{status: http.StatusOK, body: map[string]string{"status": "ok"}}))
	})
	s.mux.HandleFunc("GET /_pcsim/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeStored(w, encode(response{status: http.StatusOK, body: s.Stats()}))
	})
	s.mux.HandleFunc("GET /_pcsim/orders", func(w http.ResponseWriter, _ *http.Request) {
		writeStored(w, encode(response{status: http.StatusOK, body: s.Orders()}))
	})
	s.mux.HandleFunc("GET /_pcsim/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeStored(w, encode(response{status: http.StatusOK, body: s.CurrentFaults()}))
	})
	s.mux.HandleFunc("PUT /_pcsim/faults", s.putFaults)
	s.mux.HandleFunc("POST /_pcsim/carts/{cartId}/expire", s.expireCart)
	s.mux.HandleFunc("GET /_pcsim/subscriptions", func(w http.ResponseWriter, _ *http.Request) {
		writeStored(w, encode(response{status: http.StatusOK, body: s.Subscriptions()}))
	})
	s.mux.HandleFunc("POST /_pcsim/subscriptions/{subscriptionId}/backdate", s.backdateSubscription)
}

// backdateSubscription serves POST /_pcsim/subscriptions/{id}/backdate with body
// {"by": "169h"}: BackdateSubscription.
func (s *Server) backdateSubscription(w http.ResponseWriter, r *http.Request) {
	var in struct {
		By string `json:"by"`
	}
	if err := decodeBody(r, &in); err != nil {
		writeStored(w, encode(apiError(http.StatusBadRequest, codeInvalidInput, "Invalid backdate: %v.", err)))
		return
	}
	d, err := time.ParseDuration(in.By)
	if err != nil || d < 0 {
		writeStored(w, encode(apiError(http.StatusBadRequest, codeInvalidInput,
			"Invalid backdate: by must be a non-negative Go duration such as \"169h\", got %q.", in.By)))
		return
	}
	id := r.PathValue("subscriptionId")
	if !s.BackdateSubscription(id, d) {
		writeStored(w, encode(apiError(http.StatusNotFound, codeSubscriptionNotFound, "Subscription with Id %s not found.", id)))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) putFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if err := decodeBody(r, &f); err != nil {
		writeStored(w, encode(apiError(http.StatusBadRequest, codeInvalidInput, "Invalid faults: %v.", err)))
		return
	}
	if err := s.checkFaults(f); err != nil {
		writeStored(w, encode(apiError(http.StatusBadRequest, codeInvalidInput, "Invalid faults: %v.", err)))
		return
	}
	s.SetFaults(f)
	writeStored(w, encode(response{status: http.StatusOK, body: s.CurrentFaults()}))
}

func (s *Server) expireCart(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("cartId")
	if !s.ExpireCart(id) {
		writeStored(w, encode(apiError(http.StatusNotFound, codeCartNotFound,
			"Cart %s does not exist or is already ordered.", id)))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
