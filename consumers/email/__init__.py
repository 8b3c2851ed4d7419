"""The Email consumer: an order-confirmation email per ``OrderCreated`` event (SPEC §5)."""
