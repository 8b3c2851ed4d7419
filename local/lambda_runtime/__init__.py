"""Lambda's runtime on one machine: function containers and the event sources and pollers that invoke them."""
