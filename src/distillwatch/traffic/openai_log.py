"""The tolerant mapping from OpenAI-style request/response log records to `LOG_SCHEMA`.

A record looks like ``{"timestamp": ..., "account": ..., "request": {"model": ..., "messages": [...],
"temperature": ..., "logprobs": ...}, "response": {"choices": [{"message": {"content": ...}}],
"usage": {...}}}``. Each field is looked for at several places, first hit wins:

========================  ================================================================================
field                     looked for at
========================  ================================================================================
timestamp                 timestamp, time, ts, created_at, request_time, response.created (epoch s)
request_id                request_id, id, response.id
account_id                account_id, account, user_id, user, request.user, request.metadata.user_id
org_id                    org_id, organization_id, organization, org
api_key_id                api_key_id, key_id, api_key
ip                        ip, client_ip, remote_addr, headers."x-forwarded-for"
user_agent                user_agent, headers."user-agent", headers."User-Agent"
model                     request.model, model, response.model
endpoint                  endpoint, path, url; else inferred from request.messages / prompt / input
messages                  request.messages, request.prompt, request.input, messages, prompt
response_text             response.choices[*] (message.content or text; all choices, blank-line joined),
                          response.content[*].text, response.output_text, response_text
prompt_tokens             response.usage.prompt_tokens, response.usage.input_tokens, usage.prompt_tokens
completion_tokens         response.usage.completion_tokens, response.usage.output_tokens, usage...
temperature, top_p, n     request.<name>, <name>
max_tokens                request.max_tokens, request.max_completion_tokens, request.max_output_tokens
logprobs                  request.logprobs: a boolean (chat API), or a number > 0 (completions API)
top_logprobs              request.top_logprobs; else the number of request.logprobs (completions API)
payment_fingerprint       payment_fingerprint, billing.payment_fingerprint, billing.fingerprint
status                    status, status_code, response.status_code; 200 when response.choices is there
latency_ms                latency_ms, duration_ms, elapsed_ms
========================  ================================================================================

Not mapped: Anthropic's top-level ``system`` request field, tool definitions, streamed chunk logs.
"""

from __future__ import annotations

from ._normalize import JsonMapping

__all__ = ["OPENAI_MAPPING", "looks_like_openai_record"]

_choice_text = ("coalesce(json_extract_string(c, '$.message.content'), json_extract_string(c, '$.text'), "
                "json_extract_string(c, '$.delta.content'))")

OPENAI_MAPPING = JsonMapping(
    paths={
        "timestamp": ("$.timestamp", "$.time", "$.ts", "$.created_at", "$.request_time", "$.response.created"),
        "request_id": ("$.request_id", "$.id", "$.response.id"),
        "account_id": ("$.account_id", "$.account", "$.user_id", "$.user", "$.request.user",
                       "$.request.metadata.user_id"),
        "org_id": ("$.org_id", "$.organization_id", "$.organization", "$.org"),
        "api_key_id": ("$.api_key_id", "$.key_id", "$.api_key"),
        "ip": ("$.ip", "$.client_ip", "$.remote_addr", '$.headers."x-forwarded-for"'),
        "user_agent": ("$.user_agent", '$.headers."user-agent"', '$.headers."User-Agent"'),
        "model": ("$.request.model", "$.model", "$.response.model"),
        "endpoint": ("$.endpoint", "$.path", "$.url"),
        "messages": ("$.request.messages", "$.request.prompt", "$.request.input", "$.messages", "$.prompt"),
        "prompt_text": ("$.prompt_text",),
        "response_text": ("$.response.choices", "$.response.content", "$.response.output_text", "$.response_text"),
        "prompt_tokens": ("$.response.usage.prompt_tokens", "$.response.usage.input_tokens",
                          "$.usage.prompt_tokens", "$.usage.input_tokens"),
        "completion_tokens": ("$.response.usage.completion_tokens", "$.response.usage.output_tokens",
                              "$.usage.completion_tokens", "$.usage.output_tokens"),
        "temperature": ("$.request.temperature", "$.temperature"),
        "top_p": ("$.request.top_p", "$.top_p"),
        "max_tokens": ("$.request.max_tokens", "$.request.max_completion_tokens", "$.request.max_output_tokens",
                       "$.max_tokens"),
        "n": ("$.request.n", "$.n"),
        "logprobs": ("$.request.logprobs", "$.logprobs"),
        "top_logprobs": ("$.request.top_logprobs", "$.top_logprobs"),
        "payment_fingerprint": ("$.payment_fingerprint", "$.billing.payment_fingerprint", "$.billing.fingerprint"),
        "status": ("$.status", "$.status_code", "$.response.status_code"),
        "latency_ms": ("$.latency_ms", "$.duration_ms", "$.elapsed_ms"),
    },
    extras={
        "logprobs": "$.request.logprobs",
        "choices": "$.response.choices",
        "req_messages": "$.request.messages",
        "req_prompt": "$.request.prompt",
        "req_input": "$.request.input",
    },
    value_sql={
        "response_text": (
            "CASE json_type({v}) WHEN 'ARRAY' THEN array_to_string(list_transform("
            f"CAST(json_extract({{v}}, '$[*]') AS JSON[]), lambda c: {_choice_text}), chr(10) || chr(10)) "
            "WHEN 'VARCHAR' THEN {v}->>'$' END"
        ),
        "logprobs": (
            "CASE WHEN json_type({v}) IN ('UBIGINT', 'BIGINT') THEN CAST(CAST({v} AS BIGINT) > 0 AS VARCHAR) "
            "WHEN json_type({v}) = 'VARCHAR' THEN {v}->>'$' ELSE CAST({v} AS VARCHAR) END"
        ),
    },
    default_sql={
        "top_logprobs": "CASE WHEN json_type(x_logprobs) IN ('UBIGINT', 'BIGINT') THEN CAST(x_logprobs AS VARCHAR) END",
        "endpoint": ("CASE WHEN x_req_messages IS NOT NULL THEN '/v1/chat/completions' "
                     "WHEN x_req_prompt IS NOT NULL THEN '/v1/completions' "
                     "WHEN x_req_input IS NOT NULL THEN '/v1/responses' END"),
        "status": "CASE WHEN json_type(x_choices) = 'ARRAY' THEN '200' END",
    },
)


def looks_like_openai_record(record: object) -> bool:
    """True for a parsed JSON record in the request/response log shape (has 'request' or 'response')."""
    return isinstance(record, dict) and (isinstance(record.get("request"), dict)
                                         or isinstance(record.get("response"), dict))
