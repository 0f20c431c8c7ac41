#include "text.h"

#include <string.h>

int sc_text_has_control(const char *s, size_t len)
{
    for (size_t i = 0; i != len; ++i)
        if (sc_text_is_control((unsigned char)s[i]))
            return 1;
    return 0;
}

int sc_text_line_valid(const char *s, size_t max)
{
    size_t len = strlen(s);
    return len != 0 && len <= max && !sc_text_has_control(s, len);
}

int sc_text_scope_token_valid(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

int sc_text_service_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > SC_TEXT_SERVICE_NAME_MAX)
        return 0;
    for (size_t i = 0; i != len; ++i) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int sc_text_tenant_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > SC_TEXT_TENANT_ID_MAX)
        return 0;
    for (size_t i = 0; i != len; ++i) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}
