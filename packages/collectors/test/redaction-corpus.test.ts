// SPDX-License-Identifier: Apache-2.0
/**
 * Command lines as cron, PHP's system() and deploy tools run them, each with
 * the exact argv the agent stores. The secrets are made up; each case names
 * where such a line comes from. Negative cases must come out unchanged.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MASK, Redactor } from '../src/runtime/redaction';

const FTAPI = 'ftapi.0123456789ab.Qm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg';
const FTBOOT_SECRET = 'c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0cw';
const CA_HASH = 'sha256-' + 'ab12'.repeat(16);
const GHP = 'ghp_FakeToken0123456789abcdefABCDEFghij';
const GHS = 'ghs_FakeInstallation0123456789abcdefAB';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjcm9uIn0.c2lnbmF0dXJlX2Zha2U';

interface Case {
  from: string;
  argv: string[];
  stored: string[];
  masked: number;
}

const masking: Case[] = [
  {
    from: 'nightly backup cron',
    argv: ['/usr/bin/mysqldump', '-uroot', '-pS3cret!', '--all-databases'],
    stored: ['/usr/bin/mysqldump', '-uroot', '-p***', '--all-databases'],
    masked: 1,
  },
  {
    from: 'backup script, password as its own word',
    argv: ['mysqldump', '-u', 'backup', '-p', 'S3cret', 'shop'],
    stored: ['mysqldump', '-u', 'backup', '-p', '***', 'shop'],
    masked: 1,
  },
  {
    from: 'mysql with a long option holding a space',
    argv: ['mysql', '--password=My Pass', '-e', 'select 1'],
    stored: ['mysql', '--password=***', '-e', 'select 1'],
    masked: 1,
  },
  {
    from: 'Jenkins trigger from cron',
    argv: ['curl', '-u', 'deploy:Tr0ub4dor', 'https://ci.example.com/job/build'],
    stored: ['curl', '-u', 'deploy:***', 'https://ci.example.com/job/build'],
    masked: 1,
  },
  {
    from: 'curl --user',
    argv: ['curl', '--user', 'admin:hunter2', '-X', 'POST', 'https://x.example.com/api'],
    stored: ['curl', '--user', 'admin:***', '-X', 'POST', 'https://x.example.com/api'],
    masked: 1,
  },
  {
    from: 'curl -u attached',
    argv: ['curl', '-uadmin:hunter2', 'https://x.example.com'],
    stored: ['curl', '-uadmin:***', 'https://x.example.com'],
    masked: 1,
  },
  {
    from: 'Stripe style: the key is the user, the password empty',
    argv: ['curl', '-u', 'sk_live_FakeKey0123456789abcd:', 'https://api.stripe.com/v1/charges'],
    stored: ['curl', '-u', '***:', 'https://api.stripe.com/v1/charges'],
    masked: 1,
  },
  {
    from: "a cron job calling fleettrace's own API",
    argv: [
      'curl',
      '-s',
      '-H',
      `Authorization: Bearer ${FTAPI}`,
      'https://fleet.example.com/api/v1/hosts',
    ],
    stored: [
      'curl',
      '-s',
      '-H',
      'Authorization: Bearer ***',
      'https://fleet.example.com/api/v1/hosts',
    ],
    masked: 1,
  },
  {
    from: 'API key header',
    argv: ['curl', '-H', 'X-Api-Key: 9f8e7d6c5b4a', 'https://api.example.com/v2/orders'],
    stored: ['curl', '-H', 'X-Api-Key: ***', 'https://api.example.com/v2/orders'],
    masked: 1,
  },
  {
    from: 'auth token and cookie headers',
    argv: [
      'curl',
      '-H',
      'X-Auth-Token: abc123def',
      '-H',
      'Cookie: session=0a1b2c; theme=dark',
      'https://x.example.com',
    ],
    stored: ['curl', '-H', 'X-Auth-Token: ***', '-H', 'Cookie: ***', 'https://x.example.com'],
    masked: 2,
  },
  {
    from: 'cookie option',
    argv: ['curl', '--cookie', 'sid=abc123', 'https://x.example.com'],
    stored: ['curl', '--cookie', '***', 'https://x.example.com'],
    masked: 1,
  },
  {
    from: 'login with a JSON body',
    argv: [
      'curl',
      '-X',
      'POST',
      '-H',
      'Content-Type: application/json',
      '-d',
      '{"username":"svc","password":"Pa55 word"}',
      'https://x.example.com/login',
    ],
    stored: [
      'curl',
      '-X',
      'POST',
      '-H',
      'Content-Type: application/json',
      '-d',
      '{"username":"svc","password":"***"}',
      'https://x.example.com/login',
    ],
    masked: 1,
  },
  {
    from: 'webhook with a JSON token and spaces',
    argv: [
      'curl',
      '-d',
      '{"event": "deploy", "token": "tok-123-abc"}',
      'https://hooks.example.com',
    ],
    stored: ['curl', '-d', '{"event": "deploy", "token": "***"}', 'https://hooks.example.com'],
    masked: 1,
  },
  {
    from: 'API key in a query string',
    argv: ['curl', 'https://api.example.com/v1/export?api_key=AbC123&format=csv'],
    stored: ['curl', 'https://api.example.com/v1/export?api_key=***&format=csv'],
    masked: 1,
  },
  {
    from: 'wget --password',
    argv: ['wget', '--user=backup', '--password', 'Wg3tPass', 'https://files.example.com/db.tgz'],
    stored: ['wget', '--user=backup', '--password', '***', 'https://files.example.com/db.tgz'],
    masked: 1,
  },
  {
    from: 'wget --http-password=',
    argv: ['wget', '--http-password=Wg3tPass', '-q', 'https://files.example.com/db.tgz'],
    stored: ['wget', '--http-password=***', '-q', 'https://files.example.com/db.tgz'],
    masked: 1,
  },
  {
    from: 'deploy: GitHub token as the URL user',
    argv: ['git', 'clone', `https://${GHP}@github.com/acme/site.git`, '/var/www/site'],
    stored: ['git', 'clone', 'https://***@github.com/acme/site.git', '/var/www/site'],
    masked: 1,
  },
  {
    from: 'GitHub Actions style installation token',
    argv: ['git', 'fetch', `https://x-access-token:${GHS}@github.com/acme/site.git`],
    stored: ['git', 'fetch', 'https://x-access-token:***@github.com/acme/site.git'],
    masked: 1,
  },
  {
    from: 'GitLab deploy token',
    argv: [
      'git',
      'clone',
      'https://oauth2:glpat-FakeFake0123456789abcd@gitlab.example.com/g/p.git',
    ],
    stored: ['git', 'clone', 'https://oauth2:***@gitlab.example.com/g/p.git'],
    masked: 1,
  },
  {
    from: 'git extra header',
    argv: ['git', '-c', 'http.extraHeader=Authorization: Basic dXNlcjpwYXNz', 'fetch', 'origin'],
    stored: ['git', '-c', 'http.extraHeader=Authorization: Basic ***', 'fetch', 'origin'],
    masked: 1,
  },
  {
    from: 'cron: backup then ping, two secrets in one sh -c string',
    argv: [
      '/bin/sh',
      '-c',
      'mysql -uroot -pX7secret shop < /backup/dump.sql && curl -u ops:Curl3d https://status.example.com/ping',
    ],
    stored: [
      '/bin/sh',
      '-c',
      'mysql -uroot -p*** shop < /backup/dump.sql && curl -u ops:*** https://status.example.com/ping',
    ],
    masked: 2,
  },
  {
    from: 'PHP system(): quoted password with a space',
    argv: [
      'sh',
      '-c',
      "/usr/bin/mysqldump --user=shop --password='Sh0p pass' shop | gzip > /tmp/shop.sql.gz",
    ],
    stored: [
      'sh',
      '-c',
      "/usr/bin/mysqldump --user=shop --password='***' shop | gzip > /tmp/shop.sql.gz",
    ],
    masked: 1,
  },
  {
    from: 'sh -c: --password "two words", and the = form',
    argv: ['sh', '-c', 'app --password "two words" && app --password="two words"'],
    stored: ['sh', '-c', 'app --password "***" && app --password="***"'],
    masked: 2,
  },
  {
    from: 'PHP system(): header and curl -u in one string',
    argv: [
      'sh',
      '-c',
      `curl -sf -H 'Authorization: Bearer ${FTAPI}' -u a:b https://fleet.example.com/api/v1/jobs`,
    ],
    stored: [
      'sh',
      '-c',
      "curl -sf -H 'Authorization: Bearer ***' -u a:*** https://fleet.example.com/api/v1/jobs",
    ],
    masked: 2,
  },
  {
    from: 'PHP system() running mysqldump -p twice',
    argv: ['sh', '-c', 'mysqldump -pOne1 a > a.sql; mysqldump -pTwo2 b > b.sql'],
    stored: ['sh', '-c', 'mysqldump -p*** a > a.sql; mysqldump -p*** b > b.sql'],
    masked: 2,
  },
  {
    from: 'php artisan with --password=',
    argv: [
      '/bin/sh',
      '-c',
      'cd /var/www/app && php artisan app:create-admin --email=ops@example.com --password=Adm1nPass',
    ],
    stored: [
      '/bin/sh',
      '-c',
      'cd /var/www/app && php artisan app:create-admin --email=ops@example.com --password=***',
    ],
    masked: 1,
  },
  {
    from: 'rsync with RSYNC_PASSWORD= in front',
    argv: ['sh', '-c', 'RSYNC_PASSWORD=Rs7nc rsync -az /srv/ backup@nas::srv'],
    stored: ['sh', '-c', 'RSYNC_PASSWORD=*** rsync -az /srv/ backup@nas::srv'],
    masked: 1,
  },
  {
    from: 'a quoted assignment with a space',
    argv: ['sh', '-c', 'MYSQL_PWD="a b" mysql -u root shop'],
    stored: ['sh', '-c', 'MYSQL_PWD="***" mysql -u root shop'],
    masked: 1,
  },
  {
    from: 'sshpass around rsync over ssh on port 2222',
    argv: ['sshpass', '-p', 'Ssh9ass', 'rsync', '-e', 'ssh -p 2222', '/srv/', 'deploy@web1:/srv/'],
    stored: ['sshpass', '-p', '***', 'rsync', '-e', 'ssh -p 2222', '/srv/', 'deploy@web1:/srv/'],
    masked: 1,
  },
  {
    from: "a control panel running a customer's job through setpriv",
    argv: [
      'setpriv',
      '--reuid=1001',
      '--regid',
      '1001',
      '--clear-groups',
      '/usr/bin/redis-cli',
      '-a',
      'R3dis',
      'PING',
    ],
    stored: [
      'setpriv',
      '--reuid=1001',
      '--regid',
      '1001',
      '--clear-groups',
      '/usr/bin/redis-cli',
      '-a',
      '***',
      'PING',
    ],
    masked: 1,
  },
  {
    from: "root's cron: runuser around sshpass",
    argv: ['runuser', '-u', 'web1', '--', 'sshpass', '-p', 'Ssh9ass', 'ssh', 'deploy@host'],
    stored: ['runuser', '-u', 'web1', '--', 'sshpass', '-p', '***', 'ssh', 'deploy@host'],
    masked: 1,
  },
  {
    from: 'sshpass -p attached, ssh -p a port',
    argv: ['sshpass', '-pSsh9ass', 'ssh', '-p', '2222', 'deploy@web1', 'uptime'],
    stored: ['sshpass', '-p***', 'ssh', '-p', '2222', 'deploy@web1', 'uptime'],
    masked: 1,
  },
  {
    from: 'redis-cli -a',
    argv: ['redis-cli', '-h', 'cache1', '-a', 'R3dis', 'FLUSHDB'],
    stored: ['redis-cli', '-h', 'cache1', '-a', '***', 'FLUSHDB'],
    masked: 1,
  },
  {
    from: 'redis password rotation',
    argv: ['redis-cli', '-a', 'R3dis', 'CONFIG', 'SET', 'requirepass', 'N3wR3dis'],
    stored: ['redis-cli', '-a', '***', 'CONFIG', 'SET', 'requirepass', '***'],
    masked: 2,
  },
  {
    from: 'psql with a connection URL',
    argv: ['psql', 'postgresql://app:Pg5ecret@db1:5432/shop', '-c', 'select 1'],
    stored: ['psql', 'postgresql://app:***@db1:5432/shop', '-c', 'select 1'],
    masked: 1,
  },
  {
    from: 'PGPASSWORD in a cron line',
    argv: ['sh', '-c', 'PGPASSWORD=Pg5ecret psql -h db1 -U app shop -c "vacuum analyze"'],
    stored: ['sh', '-c', 'PGPASSWORD=*** psql -h db1 -U app shop -c "vacuum analyze"'],
    masked: 1,
  },
  {
    from: 'SQL that sets a password',
    argv: ['sudo', '-u', 'postgres', 'psql', '-c', "ALTER USER app WITH PASSWORD 'N3wPg'"],
    stored: ['sudo', '-u', 'postgres', 'psql', '-c', "ALTER USER app WITH PASSWORD '***'"],
    masked: 1,
  },
  {
    from: 'aws configure',
    argv: [
      'aws',
      'configure',
      'set',
      'aws_secret_access_key',
      'wJalrXUtnFEMI/K7MDENG/bPxRfiCYFAKEKEY',
    ],
    stored: ['aws', 'configure', 'set', 'aws_secret_access_key', '***'],
    masked: 1,
  },
  {
    from: 'env with AWS keys',
    argv: [
      'env',
      'AWS_ACCESS_KEY_ID=AKIAFAKEFAKEFAKE1234',
      'AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYFAKEKEY',
      'aws',
      's3',
      'sync',
      '/srv',
      's3://bucket',
    ],
    stored: [
      'env',
      'AWS_ACCESS_KEY_ID=AKIA***',
      'AWS_SECRET_ACCESS_KEY=***',
      'aws',
      's3',
      'sync',
      '/srv',
      's3://bucket',
    ],
    masked: 2,
  },
  {
    from: 'GitHub API with a token header',
    argv: ['curl', '-H', `Authorization: token ${GHP}`, 'https://api.github.com/user'],
    stored: ['curl', '-H', 'Authorization: token ***', 'https://api.github.com/user'],
    masked: 1,
  },
  {
    from: 'Slack bot token in a form field',
    argv: [
      'curl',
      '-d',
      'token=xoxb-123456789012-FakeFakeFake',
      'https://slack.com/api/chat.postMessage',
    ],
    stored: ['curl', '-d', 'token=***', 'https://slack.com/api/chat.postMessage'],
    masked: 1,
  },
  {
    from: 'a bare GitHub token keeps its type',
    argv: ['gh-sync', GHP],
    stored: ['gh-sync', 'ghp_***'],
    masked: 1,
  },
  {
    from: 'a JWT as an argument',
    argv: ['node', 'worker.js', '--jwt', JWT],
    stored: ['node', 'worker.js', '--jwt', MASK],
    masked: 1,
  },
  {
    from: 'fleettrace bootstrap token in an install line',
    argv: [
      'sh',
      '-c',
      `FT_ENROLL=ftboot.0123456789ab.${FTBOOT_SECRET}.${CA_HASH} /usr/local/bin/fleettrace agent`,
    ],
    stored: [
      'sh',
      '-c',
      `FT_ENROLL=ftboot.0123456789ab.***.${CA_HASH} /usr/local/bin/fleettrace agent`,
    ],
    masked: 1,
  },
  {
    from: 'fleettrace token after an option',
    argv: ['fleettrace', 'hosts', '--api-token', FTAPI],
    stored: ['fleettrace', 'hosts', '--api-token', '***'],
    masked: 1,
  },
  {
    from: 'docker login -p',
    argv: ['docker', 'login', '-u', 'ci', '-p', 'D0ckerPass', 'registry.example.com'],
    stored: ['docker', 'login', '-u', 'ci', '-p', '***', 'registry.example.com'],
    masked: 1,
  },
  {
    from: 'ldapsearch -w',
    argv: [
      'ldapsearch',
      '-x',
      '-D',
      'cn=admin,dc=example,dc=com',
      '-w',
      'Ld4pPass',
      '-b',
      'dc=example',
    ],
    stored: [
      'ldapsearch',
      '-x',
      '-D',
      'cn=admin,dc=example,dc=com',
      '-w',
      '***',
      '-b',
      'dc=example',
    ],
    masked: 1,
  },
  {
    from: 'zip -P',
    argv: ['zip', '-P', 'Z1pPass', '-r', 'backup.zip', '/srv/data'],
    stored: ['zip', '-P', '***', '-r', 'backup.zip', '/srv/data'],
    masked: 1,
  },
  {
    from: 'smbclient user%password',
    argv: ['smbclient', '//nas/backup', '-U', 'backup%Smb9ass', '-c', 'put db.tar.gz'],
    stored: ['smbclient', '//nas/backup', '-U', 'backup%***', '-c', 'put db.tar.gz'],
    masked: 1,
  },
  {
    from: 'openssl pass:',
    argv: ['openssl', 'rsa', '-passin', 'pass:0penSSL', '-in', 'key.pem'],
    stored: ['openssl', 'rsa', '-passin', 'pass:***', '-in', 'key.pem'],
    masked: 1,
  },
  {
    from: 'gpg --passphrase with spaces',
    argv: ['gpg', '--batch', '--passphrase', 'Gpg pass phrase', '-d', 'backup.gpg'],
    stored: ['gpg', '--batch', '--passphrase', '***', '-d', 'backup.gpg'],
    masked: 1,
  },
  {
    from: 'su -c running PHP with an API key',
    argv: [
      'su',
      '-',
      'www-data',
      '-s',
      '/bin/sh',
      '-c',
      'php /var/www/app/cron.php --api-key=K3y123',
    ],
    stored: [
      'su',
      '-',
      'www-data',
      '-s',
      '/bin/sh',
      '-c',
      'php /var/www/app/cron.php --api-key=***',
    ],
    masked: 1,
  },
  {
    from: 'a shell inside su -c',
    argv: ['su', '-c', "sh -c 'mysqldump -pInner1 db > /tmp/db.sql'", 'root'],
    stored: ['su', '-c', "sh -c 'mysqldump -p*** db > /tmp/db.sql'", 'root'],
    masked: 1,
  },
  {
    from: 'php -r with system()',
    argv: ['/usr/bin/php', '-r', `system("mysql -uroot -pPhpPass shop -e 'select 1'");`],
    stored: ['/usr/bin/php', '-r', `system("mysql -uroot -p*** shop -e 'select 1'");`],
    masked: 1,
  },
  {
    from: 'a backslash-escaped space in the password',
    argv: ['sh', '-c', 'curl -u admin:pa\\ ss https://x.example.com'],
    stored: ['sh', '-c', 'curl -u admin:*** https://x.example.com'],
    masked: 1,
  },
  {
    from: 'a private key written by a deploy step',
    argv: [
      'sh',
      '-c',
      'printf "%s" "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----" > /root/.ssh/id_ed25519',
    ],
    stored: [
      'sh',
      '-c',
      'printf "%s" "-----BEGIN OPENSSH PRIVATE KEY-----***-----END OPENSSH PRIVATE KEY-----" > /root/.ssh/id_ed25519',
    ],
    masked: 1,
  },
  {
    from: 'a private key cut off by the argument buffer',
    argv: ['sh', '-c', 'echo "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA'],
    stored: ['sh', '-c', 'echo "-----BEGIN RSA PRIVATE KEY-----***'],
    masked: 1,
  },
];

/** Ordinary commands: nothing to mask, and nothing useful lost. */
const unchanged: Array<{ from: string; argv: string[] }> = [
  { from: 'ls -a', argv: ['ls', '-a', '-pla', '/var/www'] },
  { from: 'ssh on another port', argv: ['ssh', '-p', '2222', 'deploy@web1'] },
  { from: 'scp on another port', argv: ['scp', '-P', '2222', 'site.tgz', 'web1:/tmp'] },
  { from: 'docker publishing a port', argv: ['docker', 'run', '-p', '8080:80', 'nginx'] },
  { from: 'timeout around ssh -p', argv: ['timeout', '30', 'ssh', '-p', '2222', 'h', 'uptime'] },
  { from: 'grep -p for a word', argv: ['grep', '-p', 'token', '/etc/app.conf'] },
  { from: 'grep for a key name', argv: ['grep', '-r', 'api_token', '/srv/app/config'] },
  { from: 'a file named token', argv: ['cat', '/var/lib/app/token.json'] },
  { from: 'a secret key file copied', argv: ['cp', '/etc/app/secret_key.pem', '/backup/'] },
  { from: 'an archive of tokens', argv: ['tar', 'czf', '/backup/tokens-2024.tgz', '/srv/tokens'] },
  {
    from: 'rsync --password-file',
    argv: ['rsync', '-az', '--password-file', '/etc/rsyncd.secret', '/srv/', 'nas::srv'],
  },
  {
    from: 'gpg --passphrase-file',
    argv: ['gpg', '--batch', '--passphrase-file', '/root/.gpgpass', '-d', 'x.gpg'],
  },
  {
    from: 'ansible with a key file',
    argv: ['ansible-playbook', '--private-key', '~/.ssh/id_ed25519', 'site.yml'],
  },
  {
    from: 'ansible asking for a password',
    argv: ['ansible-playbook', '--ask-become-pass', 'site.yml'],
  },
  { from: 'mysql -p prompting', argv: ['mysql', '-u', 'root', '-p', '-h', 'db1', 'shop'] },
  { from: 'mysql --skip-password', argv: ['mysql', '--skip-password', '-u', 'root'] },
  {
    from: 'curl -u with a user only (curl asks)',
    argv: ['curl', '-u', 'deploy', 'https://x.example.com'],
  },
  {
    from: 'curl reading cookies from a file',
    argv: ['curl', '-b', '/tmp/cookies.txt', 'https://x.example.com'],
  },
  {
    from: 'an ordinary header',
    argv: ['curl', '-H', 'Accept: application/json', 'https://x.example.com'],
  },
  { from: 'ssh git URL', argv: ['git', 'clone', 'ssh://git@github.com/acme/site.git'] },
  { from: 'scp-like git remote', argv: ['git', 'clone', 'git@github.com:acme/site.git'] },
  { from: 'git author', argv: ['git', 'log', '--author', 'Jane', '-p'] },
  { from: 'a commit message', argv: ['git', 'commit', '-m', 'Rotate the API token handling'] },
  {
    from: 'URL with a port and an @ in the path',
    argv: ['curl', 'https://host.example.com:8080/users/@me'],
  },
  {
    from: 'artisan scheduler',
    argv: ['php', '/var/www/app/artisan', 'schedule:run', '--env=production'],
  },
  {
    from: 'sudo running artisan',
    argv: ['sudo', '-u', 'www-data', 'php', 'artisan', 'cache:clear'],
  },
  {
    from: 'cron cleanup',
    argv: ['/bin/sh', '-c', 'cd /srv/app && ./bin/cleanup --older-than 7d > /dev/null 2>&1'],
  },
  { from: 'node server', argv: ['node', 'server.js', '--port', '3000'] },
  { from: 'redis-cli without a password', argv: ['redis-cli', '-h', 'cache', 'ping'] },
  {
    from: 'a JSON body without secrets',
    argv: ['curl', '-d', '{"event": "deploy", "tokens_used": 3}', 'https://x.example.com'],
  },
];

describe('exec argument redaction: corpus', () => {
  const redactor = new Redactor();
  for (const c of masking) {
    test(c.from, () => {
      const { argv, masked } = redactor.redactArgv(c.argv);
      assert.deepEqual(argv, c.stored);
      assert.equal(masked, c.masked, 'masked count');
    });
  }
  for (const c of unchanged) {
    test(`unchanged: ${c.from}`, () => {
      assert.deepEqual(redactor.redactArgv(c.argv), { argv: c.argv, masked: 0 });
    });
  }
  test('redacting a stored argv again changes nothing and counts nothing', () => {
    for (const c of masking) assert.deepEqual(redactor.redactArgv(c.stored).argv, c.stored);
  });
});

describe('operator rules', () => {
  test('apply to every occurrence and inside sh -c strings', () => {
    const redactor = Redactor.withExtra(['pin:(\\d+)']);
    assert.deepEqual(redactor.redactArgv(['sh', '-c', 'unlock pin:1234 && unlock pin:5678']), {
      argv: ['sh', '-c', 'unlock pin:*** && unlock pin:***'],
      masked: 2,
    });
  });
  test('keep the defaults', () => {
    const redactor = Redactor.withExtra(['pin:(\\d+)']);
    assert.deepEqual(redactor.redactArgv(['mysql', '-pX', 'pin:42']).argv, [
      'mysql',
      '-p***',
      'pin:***',
    ]);
  });
});
