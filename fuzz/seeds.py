#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/.

Hand-written inputs (one small file each, named for what it exercises),
plus seeds taken from the repository's own data: the service catalogue,
the packaged configuration, and a few lines of each delivery that
`dupla testdata generate` writes (pass the binary with --dupla; without it
those are skipped). Run from anywhere:
    fuzz/seeds.py [--dupla build/dupla]
Files found by fuzzing (crashes fixed, kept as regression inputs) are not
written here: they live beside these as found-<what>.
"""
import argparse
import glob
import json
import os
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, 'fuzz', 'corpus')


def seed(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def hand_written():
    # pct: first byte = flags (1 '+' is space, 2 tab/CR/LF allowed)
    seed('pct', 'plain', b'\x00/Aarsopgoerelse/2025')
    seed('pct', 'escapes', b'\x01a%20b+c%2B%C3%A6%E2%82%AC')
    seed('pct', 'lines', b'\x03line1%0D%0Aline2%09tab')
    seed('pct', 'bad-escape', b'\x00abc%4')
    seed('pct', 'nul', b'\x00a%00b')
    seed('pct', 'overlong', b'\x00%C0%AF')
    seed('pct', 'surrogate', b'\x00%ED%A0%80')
    seed('pct', 'utf8-raw', '\x00Årsopgørelse'.encode())
    # target: the request target as sent
    seed('target', 'simple', '/Aarsopgoerelse/v1?cpr=0101011234&q=x')
    seed('target', 'repeat', '/s?cpr=0101011234&cpr=0202021234&limit=10&after=0&synthetic=true'
         '&kind=person&from=2025-01-01&q=a')
    seed('target', 'time', '/s?from=2025-01-01T10:00:00Z&q=%C3%A6')
    seed('target', 'dotdot', '/a/%2e%2e/b')
    seed('target', 'fragment', '/a#frag?x=1')
    seed('target', 'bad', '/a?x=%ZZ')
    seed('target', 'space', '/a b')
    seed('target', 'unknown', '/a?zzz=1&q=2')
    seed('target', 'many', '/a?' + '&'.join(f'q{i}=1' for i in range(70)))
    seed('target', 'utf8', '/Årsopgørelse?q=ø')
    seed('target', 'empty-pairs', '/a?&&q=1&&=&x')
    # form: first byte: 1 unique names, 2 the multi-line field
    seed('form', 'login', b'\x01csrf=abc&role=admin&days=30&active=true')
    seed('form', 'lines', b'\x03csrf=x&description=a%0D%0Ab%09c+d')
    seed('form', 'repeat', b'\x00csrf=x&field=a&field=b&from=2025-01-01')
    seed('form', 'dup-unique', b'\x01csrf=x&csrf=y')
    seed('form', 'noname', b'\x00=x')
    seed('form', 'bad', b'\x00csrf=%G0')
    seed('form', 'controls', b'\x00csrf=a%0Ab')
    seed('form', 'token', b'\x01grant_type=client_credentials&scope=openid&client_id=dupla')
    # json_body: first byte: 1 an empty body is allowed
    seed('json_body', 'ok', b'\x00{"name":"A","kind":"recipient","days":30,"active":true,'
         b'"from":"2025-01-01","fields":["a"],"extra":{}}')
    seed('json_body', 'empty', b'\x01  ')
    seed('json_body', 'dup', b'\x00{"name":"a","name":"b"}')
    seed('json_body', 'unknown', b'\x00{"name":"a","zz":1}')
    seed('json_body', 'nul', b'\x00{"name":"a\\u0000b"}')
    seed('json_body', 'null', b'\x00{"name":"a","days":null}')
    seed('json_body', 'array', b'\x00[1,2]')
    seed('json_body', 'nested', b'\x00{"name":"a","extra":' + b'[' * 3000 + b']' * 3000 + b'}')
    seed('json_body', 'badtype', b'\x00{"name":1}')
    seed('json_body', 'emptykey', b'\x00{"":1}')
    # ident: identifiers and times
    for name, text in [('cpr', '0101011234'), ('cpr-sub', '6101011234'), ('cvr', '12345674'),
                       ('date', '2025-02-28'), ('leap', '2024-02-29'),
                       ('ts', '2025-03-30T01:00:00Z'), ('ts-frac', '2025-10-26T00:59:59.999Z'),
                       ('ts-nanos', '2025-10-26T00:59:59.123456789Z'),
                       ('year1', '0001-01-01T00:00:00Z'), ('year9999', '9999-12-31T23:59:59Z'),
                       ('bad-date', '2025-02-30')]:
        seed('ident', name, text)
    # headers: X-Request-ID, UFST-Adgangsgrundlag, Authorization (one a line)
    seed('headers', 'good', '3f2504e0-4f89-41d3-9a0c-0305e82c3301\n'
         'urn:ufst:adgangsgrundlag:aftale:aaaabbbbccccddddeeeeffff00001111\n'
         'Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln')
    seed('headers', 'odd', 'not a uuid!\n  urn:ufst:adgangsgrundlag:aftale:  \nbearer\t x')
    seed('headers', 'empty', '\n\n')
    # jwt: mode 0 an Authorization value; 1 header and claims, signed; 2 signed, then altered
    header = '{"alg":"EdDSA","typ":"JWT","kid":"@KID@"}'
    claims = ('{"iss":"@ISS@","aud":"@AUD@","sub":"@SUB@","org_cvr":"@CVR@","org_id":"x",'
              '"env":"test","scope":"openid","iat":1799999990,"nbf":1799999990,'
              '"exp":1800000900,"jti":"3f2504e0-4f89-41d3-9a0c-0305e82c3301",'
              '"cnf":{"x5t#S256":"@X5T@"}}')
    seed('jwt', 'signed-good', '\x01' + header + '\n' + claims)
    seed('jwt', 'signed-tampered', '\x02' + header + '\n' + claims)
    seed('jwt', 'signed-expired', '\x01' + header + '\n' + claims.replace('1800000900', '1700000000'))
    seed('jwt', 'signed-aud-list', '\x01' + header + '\n' + claims.replace('"@AUD@"', '["x","@AUD@"]'))
    seed('jwt', 'signed-none', '\x01{"alg":"none","kid":"@KID@"}\n' + claims)
    seed('jwt', 'signed-crit', '\x01{"alg":"EdDSA","kid":"@KID@","crit":["x"]}\n' + claims)
    seed('jwt', 'signed-env', '\x01' + header + '\n' + claims.replace('"test"', '"production"'))
    seed('jwt', 'signed-x5t', '\x01' + header + '\n' + claims.replace('@X5T@', 'AAAA'))
    seed('jwt', 'header-bearer', '\x00Bearer eyJhbGciOiJFZERTQSIsImtpZCI6IngifQ.e30.'
         + 'A' * 86)
    seed('jwt', 'header-basic', '\x00Basic dXNlcjpwYXNz')
    seed('jwt', 'header-dots', '\x00Bearer a.b.c.d')
    # token_form: the token endpoint's body
    seed('token_form', 'client-credentials', 'grant_type=client_credentials&scope=openid')
    seed('token_form', 'password', 'grant_type=password&username=a%40b.dk&password=x+y&client_id=c')
    seed('token_form', 'repeated', 'grant_type=a&grant_type=b')
    seed('token_form', 'many', '&'.join(f'f{i}=1' for i in range(20)))
    # multipart: first line the Content-Type, then the body
    crlf = '\r\n'
    body = (f'--XyZ{crlf}Content-Disposition: form-data; name="csrf"{crlf}{crlf}abc{crlf}'
            f'--XyZ{crlf}Content-Disposition: form-data; name="cert"; filename="c.pem"{crlf}'
            f'Content-Type: application/x-pem-file{crlf}{crlf}-----BEGIN CERTIFICATE-----{crlf}'
            f'--XyZ--{crlf}')
    seed('multipart', 'two-parts', 'multipart/form-data; boundary=XyZ\n' + body)
    seed('multipart', 'quoted', 'multipart/form-data; boundary="a b"\n--a b--')
    seed('multipart', 'nul-text', 'multipart/form-data; boundary=q\n--q\r\nContent-Disposition: '
         'form-data; name="x"\r\n\r\na\x00b\r\n--q--')
    seed('multipart', 'truncated', 'multipart/form-data; boundary=q\n--q\r\nContent-Disposition: '
         'form-data; name="x"\r\n\r\nabc')
    seed('multipart', 'many', 'multipart/form-data; boundary=q\n' + ''.join(
        f'--q\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nv\r\n' for i in range(10))
         + '--q--\r\n')
    # mail: first byte 1 the whole intake, 0 the parse only
    plain = ('From: Pia <pia@kommune.example>\r\nTo: haendelser@skat.example\r\n'
             'Subject: Sikkerhedshændelse: mistet certifikat\r\nMessage-ID: <1@k.example>\r\n'
             'Content-Type: text/plain; charset=utf-8\r\n\r\nVi har mistet et certifikat.\r\n')
    seed('mail', 'intake-trigger', '\x01' + plain)
    seed('mail', 'parse-trigger', '\x00' + plain)
    seed('mail', 'intake-no-trigger', '\x01' + plain.replace('Sikkerhedshændelse: ', 'Hej '))
    parts = ''.join(f'--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: '
                    f'attachment; filename="a{i}.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
                    f'QUJD\r\n' for i in range(6))
    multi = ('From: x@bank.example\r\nSubject: Driftsforstyrrelse: langsom\r\nMIME-Version: 1.0\r\n'
             'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n'
             '\r\nTekst\r\n' + parts + '--b--\r\n')
    seed('mail', 'parse-attachments', '\x00' + multi)
    seed('mail', 'intake-attachments', '\x01' + multi)
    seed('mail', 'auto', '\x01From: MAILER-DAEMON@x.example\r\nAuto-Submitted: auto-replied\r\n'
         'Subject: Undeliverable\r\n\r\nx\r\n')
    seed('mail', 'garbage', '\x01\x00\x01\x02 not a mail')
    # config
    seed('config', 'minimal', '{"environment":"test","store":"sqlite:t.db"}')
    seed('config', 'sections', '{"environment":"production","store":"sqlite:/var/lib/d.db",'
         '"token":{"key_dir":"k","lifetime_seconds":600},"audit":{"checkpoint_every":10},'
         '"limits":{"max_query_params":5},"incident":{"attachments_max":2}}')
    seed('config', 'bad-type', '{"environment":"test","store":"sqlite:t.db","token":{"key_dir":5}}')
    seed('config', 'unknown', '{"environment":"test","store":"sqlite:t.db","nope":{}}')
    # catalog: a broken one (the real ones are copied below)
    seed('catalog', 'empty-object', '{}')
    seed('catalog', 'not-object', '[]')
    # html: text with every special character
    seed('html', 'specials', '<a href="x">Tom & Jerry\'s</a>\x01\x7f\t\n')
    seed('html', 'utf8', 'Årsopgørelse – æøå € 𝄞')
    seed('html', 'bad-utf8', b'\xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf')
    seed('html', 'entities', '&amp; &lt; &#39; &')
    # csv: rows separated by 0x1e, cells by 0x1f
    seed('csv', 'plain', 'a\x1fb\x1fc\x1e1\x1f2\x1f3')
    seed('csv', 'quotes', 'say "hi"\x1fa,b\x1fline1\r\nline2\x1fx;y')
    seed('csv', 'formula', '=SUM(A1)\x1f+1\x1f-2\x1f@x\x1f\'q')
    seed('csv', 'empty', '\x1f\x1e\x1e')
    # canonical: 24 bytes of integers, texts by 0x1f, then subjects, periods, fields by 0x1e
    ints = bytes(range(1, 25))
    seed('canonical', 'entry', ints + b'12345674\x1fsys\x1fagr\x1fAarsopgoerelse\x1frid\x1ftx\x1f'
         b'\x1ftest\x1e0101011234\x1f12345674\x1e2024\x1f2023-01-01/2023-03-31\x1eA\x1fB')
    seed('canonical', 'empty', bytes(24))
    seed('canonical', 'utf8', ints + 'Årsopgørelse\x1e\x1e\x1eFelt æ'.encode())


def from_repository(dupla):
    for f in sorted(glob.glob(os.path.join(ROOT, 'catalog', '*.json'))):
        with open(f, 'rb') as src:
            seed('catalog', 'repo-' + os.path.basename(f), src.read())
    with open(os.path.join(ROOT, 'debian', 'dupla.json'), 'rb') as src:
        seed('config', 'repo-debian-dupla.json', src.read())
    if not dupla:
        return
    paths = []
    for f in glob.glob(os.path.join(ROOT, 'catalog', '*.json')):
        with open(f) as src:
            paths.append(json.load(src)['path'])
    paths.sort(key=lambda p: p.encode())
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([dupla, 'testdata', 'generate', '--persons', '3', '--companies', '2',
                        '--years', '2024-2024', '--out', tmp], check=True,
                       stdout=subprocess.DEVNULL)
        for f in sorted(glob.glob(os.path.join(tmp, '*.ndjson'))):
            with open(f, 'rb') as src:
                lines = src.read().split(b'\n')
            service = json.loads(lines[0])['delivery']['service']
            if service not in paths:
                continue
            index = paths.index(service)
            text = b'\n'.join(lines[:4]) + b'\n'
            name = os.path.basename(f)
            seed('ndjson', 'testdata-' + name, bytes([index << 1]) + text)
            if name.startswith('02-'):
                seed('ndjson', 'testdata-skip-' + name, bytes([index << 1 | 1]) + text
                     + b'{"broken": \n' + lines[1] + b'\n')
    seed('ndjson', 'not-synthetic', b'\x00{"a":1}\n')
    seed('ndjson', 'bad-header', b'\x00{"delivery":{"synthetic":"yes"}}\n{}\n')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dupla', help='the built binary, for the test data seeds')
    args = ap.parse_args()
    hand_written()
    from_repository(args.dupla)


if __name__ == '__main__':
    main()
