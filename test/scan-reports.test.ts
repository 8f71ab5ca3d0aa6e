import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type Finding, SEVERITIES, type Severity } from '../src/scan/findings.js';
import {
  applyPolicy,
  parseIgnoreFile,
  parseOpenVex,
  parsePurl,
  parseSeverityList,
  type ScanPolicy,
} from '../src/scan/policy.js';
import { normalizeSeverity, parseScannerReport } from '../src/scan/reports.js';
import { formatSarif, type SarifLog, SECURITY_SEVERITY, toSarif } from '../src/scan/sarif.js';
import { configurationError } from './support/errors.js';
import { type Schema, validate } from './support/json-schema.js';

// Real Trivy and Grype outputs, copied from the scanners' repositories; SOURCES.md there says what each is.
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../shared/fixtures/scanners');

function fixture(name: string) {
  const path = join(FIXTURES, name);
  return parseScannerReport(readFileSync(path, 'utf8'), path);
}

function countBySeverity(findings: readonly Finding[]): Partial<Record<Severity, number>> {
  const counts: Partial<Record<Severity, number>> = {};
  for (const f of findings) counts[f.severity] = (counts[f.severity] ?? 0) + 1;
  return counts;
}

const POLICY: ScanPolicy = {
  severityCutoff: 'HIGH',
  reportSeverities: SEVERITIES,
  ignoreUnfixed: false,
  ignores: [],
  vex: [],
};

const JUNE_2025 = new Date('2025-06-01T12:00:00Z');

describe('parseScannerReport on the shared fixtures', () => {
  // Counts as SOURCES.md states them.
  it.each([
    ['trivy/debian-buster.json', 'trivy', 'trivy-json', { CRITICAL: 1, LOW: 1 }],
    ['trivy/alpine-310.json', 'trivy', 'trivy-json', { MEDIUM: 4 }],
    ['trivy/centos-7-ignore-unfixed.json', 'trivy', 'trivy-json', { MEDIUM: 1, LOW: 1 }],
    ['trivy/gomod.json', 'trivy', 'trivy-json', { UNKNOWN: 4, MEDIUM: 1 }],
    ['trivy/sl-micro-rancher5.4.json', 'trivy', 'trivy-json', {}],
    ['trivy/alpine-39-skip.json', 'trivy', 'trivy-json', {}],
    ['trivy/alpine-310.sarif.json', 'trivy', 'sarif', { MEDIUM: 4 }],
    ['trivy/pom-cyclonedx.json', 'trivy', 'cyclonedx-json', { CRITICAL: 1, HIGH: 1 }],
    ['grype/chainguard-ruby-test.json', 'grype', 'grype-json', { HIGH: 3 }],
    ['grype/keycloak-test.json', 'grype', 'grype-json', { LOW: 6 }],
    ['grype/TestJsonImgsPresenter.json', 'grype', 'grype-json', { CRITICAL: 1, LOW: 1 }],
    ['grype/TestSarifPresenter_image.sarif.json', 'grype', 'sarif', { CRITICAL: 1, LOW: 1 }],
  ] as const)('%s: %s %s with %o', (name, scanner, format, counts) => {
    const report = fixture(name);
    expect(report.scanner).toBe(scanner);
    expect(report.format).toBe(format);
    expect(countBySeverity(report.findings)).toEqual(counts);
    for (const f of report.findings) expect(f.source).toBe(scanner);
  });

  it('reads a Trivy JSON finding whole', () => {
    const report = fixture('trivy/debian-buster.json');
    expect(report.artifact).toBe('testdata/fixtures/images/debian-buster.tar.gz');
    expect(report.findings.find((f) => f.id === 'CVE-2019-18224')).toEqual({
      id: 'CVE-2019-18224',
      source: 'trivy',
      severity: 'CRITICAL',
      title: 'libidn2: heap-based buffer overflow in idn2_to_ascii_4i in lib/lookup.c',
      target: 'testdata/fixtures/images/debian-buster.tar.gz (debian 10.1)',
      package: 'libidn2-0',
      installed: '2.0.5-1',
      fixed: '2.0.5-1+deb10u1',
      url: 'https://avd.aquasec.com/nvd/cve-2019-18224',
    });
    // "affected" with no FixedVersion: unfixed.
    expect(report.findings.find((f) => f.id === 'CVE-2019-18276')?.fixed).toBeUndefined();
  });

  it('keeps one finding per Result when an id repeats across targets, and non-CVE ids', () => {
    const gms = fixture('trivy/gomod.json').findings.filter((f) => f.id === 'GMS-2022-20');
    expect(gms.map((f) => f.target)).toEqual(['go.mod', 'submod/go.mod', 'submod2/go.mod']);
    expect(gms.every((f) => f.severity === 'UNKNOWN' && f.fixed === 'v2.8.0')).toBe(true);
  });

  it('reads the same facts from Trivy SARIF as from Trivy JSON (per package, from the result message)', () => {
    const facts = (findings: Finding[]) =>
      findings.map((f) => [f.id, f.severity, f.package, f.installed, f.fixed, f.url].join(' ')).sort();
    const json = fixture('trivy/alpine-310.json').findings;
    const sarif = fixture('trivy/alpine-310.sarif.json');
    expect(facts(sarif.findings)).toEqual(facts(json));
    expect(sarif.artifact).toBe('testdata/fixtures/images/alpine-310.tar.gz');
  });

  it('reads the same facts from Grype SARIF as from Grype JSON, ids without the package suffix', () => {
    const facts = (findings: Finding[]) =>
      findings.map((f) => [f.id, f.severity, f.package, f.installed, f.fixed ?? '-'].join(' ')).sort();
    const sarif = fixture('grype/TestSarifPresenter_image.sarif.json');
    expect(facts(sarif.findings)).toEqual(facts(fixture('grype/TestJsonImgsPresenter.json').findings));
    // Its security-severity (8.2) says high; the severity Grype names (low) wins.
    expect(sarif.findings.find((f) => f.id === 'CVE-1999-0001')).toMatchObject({
      severity: 'LOW',
      fixed: '1.2.1, 2.1.3, 3.4.0',
      location: '/foo/bar/somefile-1.txt',
    });
    expect(sarif.artifact).toBe('user-input');
  });

  it('takes the CycloneDX rating of the vulnerability source, then ghsa, over the other ratings', () => {
    const report = fixture('trivy/pom-cyclonedx.json');
    expect(report.artifact).toBe('testdata/fixtures/repo/pom');
    // Source ghsa: ghsa critical, not redhat high nor nvd CVSSv2 medium.
    expect(report.findings.find((f) => f.id === 'CVE-2020-9548')).toMatchObject({
      severity: 'CRITICAL',
      package: 'com.fasterxml.jackson.core:jackson-databind',
      installed: '2.9.1',
      fixed: '2.9.10.4',
    });
    // Source glad has no rating: ghsa's high.
    expect(report.findings.find((f) => f.id === 'CVE-2021-20190')?.severity).toBe('HIGH');
  });

  it('reads Grype fix versions and states, old and current schema', () => {
    const ruby = fixture('grype/chainguard-ruby-test.json');
    expect(ruby.artifact).toBe('cgr.dev/chainguard/ruby:latest-3.0');
    expect(ruby.findings.map((f) => [f.id, f.package, f.fixed])).toEqual([
      ['CVE-2023-28755', 'ruby-3.0', '3.0.6-r0'],
      ['CVE-2023-28755', 'uri', undefined],
      ['GHSA-hv5j-3h9f-99c2', 'uri', '0.10.2'],
    ]);
    const keycloak = fixture('grype/keycloak-test.json');
    expect(
      keycloak.findings.every((f) => f.fixed === undefined && f.location === '/var/lib/rpm/rpmdb.sqlite'),
    ).toBe(true);
    expect(fixture('grype/TestJsonImgsPresenter.json').findings[0].fixed).toBe('1.2.1, 2.1.3, 3.4.0');
  });

  it("falls back on a related vulnerability's severity only when Grype's own is Unknown", () => {
    const doc = JSON.parse(readFileSync(join(FIXTURES, 'grype/keycloak-test.json'), 'utf8'));
    doc.matches[0].vulnerability.severity = 'Unknown';
    doc.matches[1].vulnerability.severity = 'Negligible';
    const findings = parseScannerReport(JSON.stringify(doc), 'edited.json').findings;
    expect(findings.slice(0, 3).map((f) => f.severity)).toEqual(['MEDIUM', 'LOW', 'LOW']);
  });

  it('normalises severity names from every scanner', () => {
    expect(
      ['Critical', 'High', 'Medium', 'moderate', 'Low', 'Negligible', 'Unknown', 'info', 'bogus', 42].map(
        normalizeSeverity,
      ),
    ).toEqual(['CRITICAL', 'HIGH', 'MEDIUM', 'MEDIUM', 'LOW', 'LOW', 'UNKNOWN', 'LOW', 'UNKNOWN', 'UNKNOWN']);
  });
});

describe('parseScannerReport on bad input', () => {
  it.each([
    [
      'not JSON',
      'Trivy output here',
      /report\.json: not a scanner report: not valid JSON .*accepted formats: Trivy JSON/,
    ],
    [
      'an unknown JSON document',
      '{"hello": "world"}',
      /report\.json: not a scanner report this action can read; accepted formats: .*Grype JSON/,
    ],
    [
      'a Trivy SchemaVersion 1 report',
      '{"SchemaVersion": 1, "Results": []}',
      /SchemaVersion 1 is not supported; only SchemaVersion 2/,
    ],
    [
      'SARIF from another tool',
      '{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"CodeQL"}},"results":[]}]}',
      /runs\[0\] is from "CodeQL"; only Trivy and Grype SARIF/,
    ],
    ['an old SARIF version', '{"version":"2.0.0","runs":[]}', /SARIF version "2.0.0"; only 2.1.0/],
    [
      'a CycloneDX SBOM without vulnerabilities',
      '{"bomFormat":"CycloneDX","metadata":{"tools":[{"name":"trivy"}]},"components":[]}',
      /no vulnerabilities list: it is an SBOM/,
    ],
    [
      'CycloneDX from another tool',
      '{"bomFormat":"CycloneDX","metadata":{"tools":{"components":[{"name":"syft"}]}},"vulnerabilities":[]}',
      /not written by Trivy or Grype/,
    ],
    [
      'Trivy Vulnerabilities that are not a list',
      '{"SchemaVersion":2,"Results":[{"Target":"x","Vulnerabilities":{}}]}',
      /Results\[0\]\.Vulnerabilities must be a list/,
    ],
    [
      'a Trivy vulnerability without an id',
      '{"SchemaVersion":2,"Results":[{"Target":"x","Vulnerabilities":[{"Severity":"HIGH"}]}]}',
      /Results\[0\]\.Vulnerabilities\[0\]\.VulnerabilityID is missing/,
    ],
    [
      'a Grype match without a vulnerability',
      '{"matches":[{"artifact":{}}]}',
      /matches\[0\] has no vulnerability object/,
    ],
  ])('rejects %s, naming the file', (_, text, message) => {
    const error = configurationError(() => parseScannerReport(text, 'report.json'));
    expect(error.where).toBe('report.json');
    expect(error.message).toMatch(message);
  });
});

describe('applyPolicy', () => {
  const debian = fixture('trivy/debian-buster.json').findings;
  const ids = (findings: readonly Finding[]) => findings.map((f) => f.id);

  it('fails at or above the cutoff, and reports what report-severities says plus whatever fails', () => {
    const outcome = applyPolicy(
      debian,
      { ...POLICY, severityCutoff: 'CRITICAL', reportSeverities: ['CRITICAL'] },
      JUNE_2025,
    );
    expect(ids(outcome.failing)).toEqual(['CVE-2019-18224']);
    expect(ids(outcome.reported)).toEqual(['CVE-2019-18224']);
    // The LOW finding is counted though not reported.
    expect(outcome.counts).toEqual({ CRITICAL: 1, HIGH: 0, MEDIUM: 0, LOW: 1, UNKNOWN: 0 });

    const strict = applyPolicy(
      debian,
      { ...POLICY, severityCutoff: 'LOW', reportSeverities: ['CRITICAL'] },
      JUNE_2025,
    );
    expect(ids(strict.failing).sort()).toEqual(['CVE-2019-18224', 'CVE-2019-18276']);
    expect(ids(strict.reported).sort()).toEqual(['CVE-2019-18224', 'CVE-2019-18276']);
  });

  it('ranks UNKNOWN below LOW', () => {
    const gomod = fixture('trivy/gomod.json').findings;
    expect(applyPolicy(gomod, { ...POLICY, severityCutoff: 'LOW' }, JUNE_2025).failing).toHaveLength(1);
    expect(applyPolicy(gomod, { ...POLICY, severityCutoff: 'UNKNOWN' }, JUNE_2025).failing).toHaveLength(5);
  });

  it('suppresses findings with no fixed version when ignore-unfixed is on', () => {
    const outcome = applyPolicy(debian, { ...POLICY, severityCutoff: 'LOW', ignoreUnfixed: true }, JUNE_2025);
    expect(ids(outcome.failing)).toEqual(['CVE-2019-18224']);
    expect(outcome.ignored).toEqual([
      {
        finding: debian.find((f) => f.id === 'CVE-2019-18276'),
        by: 'unfixed',
        reason: 'no fixed version yet',
      },
    ]);
    expect(outcome.counts.LOW).toBe(0);
    // Grype's wont-fix: all six unfixed.
    const keycloak = fixture('grype/keycloak-test.json').findings;
    expect(applyPolicy(keycloak, { ...POLICY, ignoreUnfixed: true }, JUNE_2025).ignored).toHaveLength(6);
  });

  it('applies active ignore entries and reports expired ones with the findings they no longer cover', () => {
    const ignores = parseIgnoreFile(
      [
        'ignores:',
        '  - id: CVE-2019-18224',
        '    reason: idn2_to_ascii_4i is never called with untrusted input',
        '    expires: 2025-06-01',
        '  - id: CVE-2019-18276',
        '    package: bash',
        '    reason: no setuid binaries in the image',
        '    expires: 2025-05-31',
      ].join('\n'),
      '.mlgate-ignore.yml',
    );
    const outcome = applyPolicy(debian, { ...POLICY, severityCutoff: 'LOW', ignores }, JUNE_2025);
    // The first applies through its expiry day; the second expired the day before.
    expect(outcome.ignored.map((i) => [i.finding.id, i.by])).toEqual([['CVE-2019-18224', 'ignore-file']]);
    expect(outcome.ignored[0].reason).toBe(
      'idn2_to_ascii_4i is never called with untrusted input (until 2025-06-01, .mlgate-ignore.yml:2)',
    );
    expect(outcome.expiredIgnores).toHaveLength(1);
    expect(outcome.expiredIgnores[0].entry).toMatchObject({
      id: 'CVE-2019-18276',
      where: '.mlgate-ignore.yml:5',
    });
    expect(ids(outcome.expiredIgnores[0].findings)).toEqual(['CVE-2019-18276']);
    expect(ids(outcome.failing)).toEqual(['CVE-2019-18276']);
  });

  it('narrows an ignore entry to a package', () => {
    const alpine = fixture('trivy/alpine-310.json').findings;
    const ignores = parseIgnoreFile(
      '- {id: cve-2019-1549, package: libssl1.1, reason: not linked, expires: 2030-01-01}\n',
      'ignore.yml',
    );
    const outcome = applyPolicy(alpine, { ...POLICY, severityCutoff: 'MEDIUM', ignores }, JUNE_2025);
    expect(outcome.ignored.map((i) => `${i.finding.id} ${i.finding.package}`)).toEqual([
      'CVE-2019-1549 libssl1.1',
    ]);
    expect(outcome.failing).toHaveLength(3);
  });

  it.each([
    [
      'a missing reason',
      '- id: CVE-1\n  expires: 2030-01-01\n- id: CVE-2\n  expires: 2030-01-01\n',
      'ignore.yml:1',
      /ignores\[0\]: `reason` is required/,
    ],
    [
      'a missing expiry',
      '- id: CVE-1\n  reason: fine\n- id: CVE-2\n  reason: fine\n',
      'ignore.yml:1',
      /ignores\[0\]: `expires` is required/,
    ],
    [
      'an impossible date',
      'ignores:\n  - id: CVE-1\n    reason: fine\n    expires: 2025-02-30\n',
      'ignore.yml:2',
      /expires "2025-02-30" is not a date written YYYY-MM-DD/,
    ],
    [
      'an unknown key',
      '- id: CVE-1\n  reason: fine\n  expires: 2030-01-01\n  expire: 2031-01-01\n',
      'ignore.yml:1',
      /unknown key "expire"/,
    ],
    ['an entry that is not a mapping', '- CVE-1\n', 'ignore.yml:1', /ignores\[0\] must be a mapping/],
    [
      'a mapping without ignores',
      'id: CVE-1\n',
      'ignore.yml',
      /a mapping must hold the entries under an `ignores:` key/,
    ],
    ['a document that is a word', 'CVE-1\n', 'ignore.yml', /must be a list of ignore entries/],
    ['broken YAML', '- id: CVE-1\n  reason: [unclosed\n', 'ignore.yml:3', /not valid YAML/],
  ])('rejects an ignore file with %s, naming the entry and line', (_, text, where, message) => {
    const error = configurationError(() => parseIgnoreFile(text, 'ignore.yml'));
    expect(error.where).toBe(where);
    expect(error.message).toMatch(message);
  });

  it('reads an empty ignore file, or an empty list, as no entries', () => {
    expect(parseIgnoreFile('', 'ignore.yml')).toEqual([]);
    expect(parseIgnoreFile('# nothing accepted yet\nignores:\n', 'ignore.yml')).toEqual([]);
  });

  it('names the second entry when that is the bad one', () => {
    const text = '- id: CVE-1\n  reason: fine\n  expires: 2030-01-01\n- id: CVE-2\n  expires: 2030-01-01\n';
    const error = configurationError(() => parseIgnoreFile(text, 'ignore.yml'));
    expect(error.where).toBe('ignore.yml:4');
    expect(error.message).toMatch(/ignores\[1\]/);
  });

  const vex = (statements: unknown[]) =>
    JSON.stringify({
      '@context': 'https://openvex.dev/ns/v0.2.0',
      '@id': 'https://example.com/vex/1',
      author: 'ml-platform',
      timestamp: '2025-05-01T00:00:00Z',
      version: 1,
      statements,
    });

  it('suppresses a vulnerability a VEX statement says does not affect the package, and keeps affected ones', () => {
    const statements = parseOpenVex(
      vex([
        {
          vulnerability: { name: 'CVE-2019-18224' },
          products: [
            {
              '@id': 'pkg:oci/debian-buster?repository_url=ghcr.io/aquasecurity/trivy-test-images',
              subcomponents: [{ '@id': 'pkg:deb/debian/libidn2-0@2.0.5-1?arch=amd64&distro=debian-10.1' }],
            },
          ],
          status: 'not_affected',
          justification: 'vulnerable_code_not_in_execute_path',
        },
        { vulnerability: { name: 'CVE-2019-18276' }, status: 'affected', action_statement: 'upgrade bash' },
      ]),
      'vex.json',
    );
    const outcome = applyPolicy(debian, { ...POLICY, severityCutoff: 'LOW', vex: statements }, JUNE_2025);
    expect(outcome.ignored).toEqual([
      {
        finding: debian.find((f) => f.id === 'CVE-2019-18224'),
        by: 'vex',
        reason: 'VEX not_affected: vulnerable_code_not_in_execute_path (vex.json: statements[0])',
      },
    ]);
    expect(ids(outcome.failing)).toEqual(['CVE-2019-18276']);
  });

  it('matches VEX products by purl: version, Maven group, rpm epoch, whole images; the latest statement wins', () => {
    const notAffected = (name: string, products: unknown[], extra = {}) => ({
      vulnerability: { name },
      products,
      status: 'not_affected',
      justification: 'component_not_present',
      ...extra,
    });
    const wrongVersion = parseOpenVex(
      vex([notAffected('CVE-2019-18224', ['pkg:deb/debian/libidn2-0@2.0.5-2'])]),
      'v',
    );
    expect(applyPolicy(debian, { ...POLICY, vex: wrongVersion }, JUNE_2025).ignored).toEqual([]);

    const pom = fixture('trivy/pom-cyclonedx.json').findings;
    const maven = parseOpenVex(
      vex([
        notAffected('CVE-2020-9548', [
          { '@id': 'pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.1' },
        ]),
      ]),
      'v',
    );
    expect(ids(applyPolicy(pom, { ...POLICY, vex: maven }, JUNE_2025).ignored.map((i) => i.finding))).toEqual(
      ['CVE-2020-9548'],
    );

    const centos = fixture('trivy/centos-7-ignore-unfixed.json').findings;
    const epoch = parseOpenVex(
      vex([notAffected('CVE-2019-1559', ['pkg:rpm/centos/openssl-libs@1.0.2k-16.el7?arch=x86_64&epoch=1'])]),
      'v',
    );
    expect(applyPolicy(centos, { ...POLICY, vex: epoch }, JUNE_2025).ignored).toHaveLength(1);

    const alpine = fixture('trivy/alpine-310.json').findings;
    const image = parseOpenVex(vex([notAffected('CVE-2019-1551', ['pkg:oci/alpine-310'])]), 'v');
    expect(applyPolicy(alpine, { ...POLICY, vex: image }, JUNE_2025).ignored).toHaveLength(2);

    const revoked = parseOpenVex(
      vex([
        notAffected('CVE-2019-1551', ['pkg:oci/alpine-310'], { timestamp: '2025-05-02T00:00:00Z' }),
        { vulnerability: 'CVE-2019-1551', status: 'under_investigation', timestamp: '2025-05-03T00:00:00Z' },
      ]),
      'v',
    );
    expect(applyPolicy(alpine, { ...POLICY, vex: revoked }, JUNE_2025).ignored).toEqual([]);
  });

  it.each([
    [
      'a not_affected statement without a justification',
      { vulnerability: { name: 'CVE-1' }, status: 'not_affected' },
      /needs a justification/,
    ],
    [
      'an unknown status',
      { vulnerability: { name: 'CVE-1' }, status: 'wontfix' },
      /status "wontfix" is not one of/,
    ],
    [
      'a product that is not a purl',
      { vulnerability: { name: 'CVE-1' }, status: 'fixed', products: [{ '@id': 'my-image' }] },
      /"my-image" is not a package URL/,
    ],
    ['a statement without a vulnerability', { status: 'fixed' }, /names no vulnerability/],
  ])('rejects a VEX document with %s', (_, statement, message) => {
    const error = configurationError(() => parseOpenVex(vex([statement]), 'vex.json'));
    expect(error.where).toMatch(/^vex\.json: statements\[0\]/);
    expect(error.message).toMatch(message);
  });

  it('rejects a document that is not OpenVEX', () => {
    expect(
      configurationError(() => parseOpenVex('{"document": {"category": "csaf_vex"}}', 'vex.json')).message,
    ).toMatch(/vex\.json: not an OpenVEX document/);
  });

  it('fails only on findings absent from the baseline, keyed by id, package and installed version', () => {
    // The baseline is the same image scanned to JSON; the current scan is its SARIF, one package upgraded.
    const baseline = fixture('trivy/alpine-310.json').findings;
    const current = fixture('trivy/alpine-310.sarif.json').findings.map((f, i) =>
      i === 0 ? { ...f, installed: '1.1.1d-r0' } : f,
    );
    const outcome = applyPolicy(current, { ...POLICY, severityCutoff: 'MEDIUM', baseline }, JUNE_2025);
    expect(outcome.failing).toEqual([current[0]]);
    expect(outcome.ignored.map((i) => i.by)).toEqual(['baseline', 'baseline', 'baseline']);
    // Known findings are still there: reported and counted, just not failing.
    expect(outcome.reported).toHaveLength(4);
    expect(outcome.counts.MEDIUM).toBe(4);
  });

  it('reads severity lists', () => {
    expect(parseSeverityList('critical, HIGH\nhigh', 'report-severities')).toEqual(['CRITICAL', 'HIGH']);
    expect(configurationError(() => parseSeverityList('HIGH,SEVERE', 'report-severities')).message).toBe(
      'report-severities: unknown severity "SEVERE"; use one of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN',
    );
  });

  it('parses package URLs', () => {
    expect(parsePurl('pkg:golang/github.com/docker/distribution@v2.7.1%2Bincompatible')).toEqual({
      type: 'golang',
      namespace: 'github.com/docker',
      name: 'distribution',
      version: 'v2.7.1+incompatible',
      qualifiers: {},
    });
    expect(parsePurl('pkg:npm/%40types/node')).toEqual({
      type: 'npm',
      namespace: '@types',
      name: 'node',
      qualifiers: {},
    });
    expect(parsePurl('not-a-purl')).toBeUndefined();
  });
});

// The properties GitHub marks required in "SARIF support for code scanning", and the values it accepts.
const GITHUB_SARIF: Schema = {
  type: 'object',
  required: ['$schema', 'version', 'runs'],
  properties: {
    $schema: { type: 'string', format: 'uri' },
    version: { const: '2.1.0' },
    runs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['tool', 'results'],
        properties: {
          tool: {
            type: 'object',
            required: ['driver'],
            properties: {
              driver: {
                type: 'object',
                required: ['name', 'rules'],
                properties: {
                  name: { type: 'string', minLength: 1 },
                  rules: {
                    type: 'array',
                    items: {
                      type: 'object',
                      required: ['id', 'shortDescription', 'fullDescription', 'help'],
                      properties: {
                        id: { type: 'string', minLength: 1 },
                        name: { type: 'string', pattern: '^.{1,255}$' },
                        shortDescription: { $ref: '#/$defs/text' },
                        fullDescription: { $ref: '#/$defs/text' },
                        help: { type: 'object', required: ['text', 'markdown'] },
                        defaultConfiguration: {
                          type: 'object',
                          properties: { level: { enum: ['note', 'warning', 'error'] } },
                        },
                        properties: {
                          type: 'object',
                          properties: {
                            tags: { type: 'array', items: { type: 'string' } },
                            'security-severity': {
                              type: 'string',
                              pattern: '^(10(\\.0)?|[0-9](\\.[0-9])?)$',
                            },
                          },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
          results: {
            type: 'array',
            items: {
              type: 'object',
              required: ['ruleId', 'level', 'message', 'locations', 'partialFingerprints'],
              properties: {
                ruleId: { type: 'string', minLength: 1 },
                ruleIndex: { type: 'integer', minimum: 0 },
                level: { enum: ['note', 'warning', 'error'] },
                message: {
                  type: 'object',
                  required: ['text'],
                  properties: { text: { type: 'string', minLength: 1 } },
                },
                locations: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['physicalLocation'],
                    properties: {
                      physicalLocation: {
                        type: 'object',
                        required: ['artifactLocation', 'region'],
                        properties: {
                          artifactLocation: {
                            type: 'object',
                            required: ['uri'],
                            properties: { uri: { type: 'string', minLength: 1 } },
                          },
                          region: {
                            type: 'object',
                            required: ['startLine', 'startColumn', 'endLine', 'endColumn'],
                            properties: {
                              startLine: { type: 'integer', minimum: 1 },
                              startColumn: { type: 'integer', minimum: 1 },
                              endLine: { type: 'integer', minimum: 1 },
                              endColumn: { type: 'integer', minimum: 1 },
                            },
                          },
                        },
                      },
                    },
                  },
                },
                partialFingerprints: {
                  type: 'object',
                  required: ['primaryLocationLineHash'],
                  properties: { primaryLocationLineHash: { type: 'string', minLength: 1 } },
                },
              },
            },
          },
        },
      },
    },
  },
  $defs: {
    text: {
      type: 'object',
      required: ['text'],
      properties: { text: { type: 'string', pattern: '^[\\s\\S]{1,1024}$' } },
    },
  },
};

/** GitHub's reading of security-severity: over 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low. */
function githubBand(score: string): string {
  const value = Number(score);
  if (value > 9) return 'CRITICAL';
  if (value >= 7) return 'HIGH';
  if (value >= 4) return 'MEDIUM';
  if (value >= 0.1) return 'LOW';
  return 'none';
}

describe('toSarif', () => {
  const TOOL = { name: 'mlgate scan-image (Trivy)', version: '0.1.0' };
  const findings = [
    ...fixture('trivy/gomod.json').findings,
    ...fixture('trivy/alpine-310.json').findings,
    ...fixture('trivy/debian-buster.json').findings,
  ];

  it('writes a log with the fields GitHub requires, one rule per vulnerability id', () => {
    const { log, truncated } = toSarif(findings, TOOL);
    expect(truncated).toBeUndefined();
    expect(validate(log, GITHUB_SARIF)).toEqual([]);
    const run = log.runs[0];
    expect(run.properties).toBeUndefined();
    expect(run.results).toHaveLength(findings.length);
    const ruleIds = run.tool.driver.rules.map((r) => r.id);
    expect(new Set(ruleIds).size).toBe(ruleIds.length);
    expect(ruleIds.sort()).toEqual([...new Set(findings.map((f) => f.id))].sort());
    for (const result of run.results) {
      expect(run.tool.driver.rules[result.ruleIndex].id).toBe(result.ruleId);
      expect(result.locations).toHaveLength(1);
    }
    // Most severe first.
    expect(run.results[0].ruleId).toBe('CVE-2019-18224');
  });

  it('maps severities to levels and to security-severity scores in the band GitHub reads back', () => {
    const { log } = toSarif(findings, TOOL);
    const rules = new Map(log.runs[0].tool.driver.rules.map((r) => [r.id, r]));
    const levels = Object.fromEntries(log.runs[0].results.map((r) => [r.ruleId, r.level]));
    expect(levels).toMatchObject({
      'CVE-2019-18224': 'error',
      'CVE-2022-23628': 'warning',
      'CVE-2019-18276': 'note',
      'GMS-2022-20': 'note',
    });
    for (const f of findings) {
      const score = rules.get(f.id)?.properties['security-severity'];
      if (f.severity === 'UNKNOWN') expect(score).toBeUndefined();
      else expect(githubBand(score!)).toBe(f.severity);
      expect(rules.get(f.id)?.properties.tags).toEqual(['security', 'vulnerability', f.severity, 'trivy']);
    }
    for (const s of SEVERITIES) if (SECURITY_SEVERITY[s]) expect(githubBand(SECURITY_SEVERITY[s]!)).toBe(s);
  });

  it('puts package, installed and fixed versions in the rule help', () => {
    const { log } = toSarif(fixture('trivy/alpine-310.json').findings, TOOL);
    const rule = log.runs[0].tool.driver.rules.find((r) => r.id === 'CVE-2019-1549')!;
    expect(rule.helpUri).toBe('https://avd.aquasec.com/nvd/cve-2019-1549');
    expect(rule.help.markdown).toContain('| Package | Installed | Fixed | Target |');
    expect(rule.help.markdown).toContain(
      '| libcrypto1.1 | 1.1.1c-r0 | 1.1.1d-r0 | testdata/fixtures/images/alpine-310.tar.gz (alpine 3.10.2) |',
    );
    expect(rule.help.markdown).toContain('| libssl1.1 | 1.1.1c-r0 | 1.1.1d-r0 |');
    expect(rule.help.text).toContain('Package: libssl1.1  Installed: 1.1.1c-r0  Fixed: 1.1.1d-r0');
  });

  it('points results at a repository file when asked, with stable distinct fingerprints and a category', () => {
    const first = toSarif(findings, TOOL, { locationUri: 'Dockerfile', category: 'scan-image' }).log;
    const again = toSarif([...findings].reverse(), TOOL, {
      locationUri: 'Dockerfile',
      category: 'scan-image',
    }).log;
    const run = first.runs[0];
    expect(run.automationDetails).toEqual({ id: 'scan-image/' });
    expect(
      run.results.every((r) => r.locations[0].physicalLocation.artifactLocation.uri === 'Dockerfile'),
    ).toBe(true);
    const prints = run.results.map((r) => r.partialFingerprints.primaryLocationLineHash);
    expect(new Set(prints).size).toBe(findings.length);
    expect(new Set(again.runs[0].results.map((r) => r.partialFingerprints.primaryLocationLineHash))).toEqual(
      new Set(prints),
    );
  });

  it('keeps the most severe findings when over the result limit, and says so', () => {
    const { log, truncated } = toSarif(findings, TOOL, { limits: { results: 3 } });
    const severities = log.runs[0].results.map((r) => findings.find((f) => f.id === r.ruleId)!.severity);
    expect(severities).toEqual(['CRITICAL', 'MEDIUM', 'MEDIUM']);
    expect(truncated).toMatchObject({
      reasons: ['results'],
      total: 11,
      kept: 3,
      dropped: { CRITICAL: 0, HIGH: 0, MEDIUM: 3, LOW: 1, UNKNOWN: 4 },
    });
    expect(log.runs[0].properties?.truncation).toEqual(truncated);
    expect(validate(log, GITHUB_SARIF)).toEqual([]);
  });

  it('keeps the most severe rules when over the rule limit', () => {
    const { log, truncated } = toSarif(findings, TOOL, { limits: { rules: 2 } });
    expect(log.runs[0].tool.driver.rules.map((r) => r.id)).toEqual(['CVE-2019-18224', 'CVE-2022-23628']);
    expect(log.runs[0].results).toHaveLength(2);
    expect(truncated?.reasons).toEqual(['rules']);
  });

  it('drops the least severe findings until the gzipped log fits the size limit', () => {
    const full = gzipSync(formatSarif(toSarif(findings, TOOL).log)).length;
    const limit = Math.floor(full * 0.8);
    const { log, truncated } = toSarif(findings, TOOL, { limits: { gzipBytes: limit } });
    expect(gzipSync(formatSarif(log)).length).toBeLessThanOrEqual(limit);
    expect(truncated?.reasons).toEqual(['size']);
    expect(truncated!.kept).toBeGreaterThan(0);
    expect(truncated!.kept).toBeLessThan(findings.length);
    const kept: SarifLog['runs'][0]['results'] = log.runs[0].results;
    expect(kept[0].ruleId).toBe('CVE-2019-18224');
    // Whatever was dropped is no more severe than anything kept.
    const rank = (id: string) =>
      Math.min(...findings.filter((f) => f.id === id).map((f) => SEVERITIES.indexOf(f.severity)));
    const worstKept = Math.max(...kept.map((r) => rank(r.ruleId)));
    const dropped = Object.entries(truncated!.dropped)
      .filter(([, n]) => n > 0)
      .map(([s]) => SEVERITIES.indexOf(s as Severity));
    expect(Math.min(...dropped)).toBeGreaterThanOrEqual(worstKept);
  });
});
