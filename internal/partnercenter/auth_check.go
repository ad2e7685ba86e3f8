package partnercenter

import "context"

// TokenProver is implemented by Clients that can sign in without calling Partner Center:
// a PartnerCenterAccount is Ready when Entra ID issues it a token.
type TokenProver interface {
	// ProveToken obtains (or reuses) an access token. Errors are those of any call's token
	// request: ClassUnauthorized when the credentials are refused.
	ProveToken(ctx context.Context) error
}

var _ TokenProver = (*httpClient)(nil)

// ProveToken obtains an access token, from the cache when it is still fresh.
func (c *httpClient) ProveToken(ctx context.Context) error {
	_, err := c.tokens.accessToken(ctx)
	return err
}
