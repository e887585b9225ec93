/*
 * err.c — names of Rill's error codes (rill_err2str()).
 *
 * DESIGN: a switch over rill_err_t returning string literals, so the call is thread-safe and
 * never allocates. A value outside the enum (a caller passing through some other integer)
 * gets a fixed "unknown error" name rather than NULL, so it can always be printed.
 */
#include "rill.h"

/*
 * Returns a static, human-readable name for err. Never NULL.
 * Thread: any.
 */
const char *rill_err2str(rill_err_t err) {
    switch (err) {
    case RILL_OK:
        return "success";
    case RILL_ERR_INVALID_ARG:
        return "invalid argument or configuration value";
    case RILL_ERR_UNKNOWN_CONF:
        return "unknown configuration property";
    case RILL_ERR_KAFKA:
        return "Kafka client error";
    case RILL_ERR_NOMEM:
        return "out of memory";
    case RILL_ERR_SERDE:
        return "serialization or deserialization failed";
    case RILL_ERR_TOPOLOGY:
        return "invalid topology";
    case RILL_ERR_STATE:
        return "operation not allowed in the current state";
    case RILL_ERR_FENCED:
        return "producer fenced by a newer instance with the same transactional id";
    case RILL_ERR_IO:
        return "file could not be read or written";
    case RILL_ERR_PROCESSING:
        return "processor failed on a record";
    }
    return "unknown error";
}
