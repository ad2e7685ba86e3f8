package main

import (
	"bytes"
	"testing"

	. "github.com/onsi/gomega"
)

func TestRateLimitFlag(t *testing.T) {
	g := NewWithT(t)
	cfg, err := parseFlags([]string{"--rate-limit", "600"}, &bytes.Buffer{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.opts.RateLimit).To(Equal(600))
	defaults, err := parseFlags(nil, &bytes.Buffer{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(defaults.opts.RateLimit).To(BeZero(), "unlimited by default")
}
