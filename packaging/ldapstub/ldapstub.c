/*
 * A stand-in for OpenLDAP's client library, for the Linux bundle only.
 *
 * Debian's libpq links libldap for one feature: looking up connection settings in an LDAP
 * directory ("ldap://" service entries in pg_service.conf). Postdesk connects with a URL
 * (POSTDESK_DATABASE_URL) and never uses it, while the real libldap brings GnuTLS, p11-kit and
 * friends (about 6.5 MiB) into the bundle. Every function here fails as "not supported", which
 * libpq reports as an ordinary connection error if such a lookup is ever attempted.
 */
#include <stddef.h>

#define LDAP_NOT_SUPPORTED (-12)

typedef struct ldap LDAP;
typedef struct ldapmsg LDAPMessage;
struct berval;
struct timeval;

LDAP *ldap_init(const char *host, int port) { (void)host; (void)port; return NULL; }
int ldap_set_option(LDAP *ld, int option, const void *value)
{ (void)ld; (void)option; (void)value; return LDAP_NOT_SUPPORTED; }
int ldap_simple_bind(LDAP *ld, const char *who, const char *passwd)
{ (void)ld; (void)who; (void)passwd; return -1; }
int ldap_result(LDAP *ld, int msgid, int all, struct timeval *timeout, LDAPMessage **result)
{
    (void)ld; (void)msgid; (void)all; (void)timeout;
    if (result)
        *result = NULL;
    return -1;
}
int ldap_search_st(LDAP *ld, const char *base, int scope, const char *filter, char **attrs,
                   int attrsonly, struct timeval *timeout, LDAPMessage **res)
{
    (void)ld; (void)base; (void)scope; (void)filter; (void)attrs; (void)attrsonly; (void)timeout;
    if (res)
        *res = NULL;
    return LDAP_NOT_SUPPORTED;
}
int ldap_count_entries(LDAP *ld, LDAPMessage *chain) { (void)ld; (void)chain; return -1; }
LDAPMessage *ldap_first_entry(LDAP *ld, LDAPMessage *chain) { (void)ld; (void)chain; return NULL; }
struct berval **ldap_get_values_len(LDAP *ld, LDAPMessage *entry, const char *target)
{ (void)ld; (void)entry; (void)target; return NULL; }
void ldap_value_free_len(struct berval **vals) { (void)vals; }
int ldap_msgfree(LDAPMessage *lm) { (void)lm; return 0; }
int ldap_unbind(LDAP *ld) { (void)ld; return 0; }
char *ldap_err2string(int err)
{ (void)err; return (char *)"LDAP lookups are not supported in this build of Postdesk"; }
