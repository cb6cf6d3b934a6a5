from tests.providers.upstreams import _anthropic_server, _openai_server, anthropic_fake, openai_fake

__all__ = ["_anthropic_server", "_openai_server", "anthropic_fake", "openai_fake"]
