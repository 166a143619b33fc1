/* Turns libc calls that invite overflows or hidden state into compile errors. */
#ifndef DCR_BANNED_H
#define DCR_BANNED_H

/* Include last, after every system header. */
#define BANNED(func) sorry_##func##_is_banned_in_dcr

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) BANNED(strncat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef gets
#define gets(x) BANNED(gets)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef rand
#define rand() BANNED(rand)

#endif
