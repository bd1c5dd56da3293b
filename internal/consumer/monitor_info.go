package consumer

// CurrentInfo returns the consumer's state now. Unlike Info, it never
// returns or consumes the state kept for the create response, so a
// monitoring request arriving while a consumer is being created cannot
// change what that response reports. Safe for concurrent use.
func (c *Consumer) CurrentInfo() Info { return c.currentInfo() }
