import { describe, expect, it } from 'vitest';
import {
  COLUMNS,
  DEFAULT_SORT,
  defaultVisibility,
  filterDevices,
  latestJobs,
  matchesQuery,
  nextSort,
  parseSort,
  parseVisibility,
  platformLabel,
  sizeLabel,
  sortDevices,
  summarize,
} from '../../web/src/state/table-model.js';
import { device, job, MB } from './fixtures.js';

const names = (list: { name: string }[]) => list.map((d) => d.name);

describe('columns', () => {
  it('shows every column but Build Size by default', () => {
    expect(defaultVisibility()).toEqual({
      status: true,
      name: true,
      configuration: true,
      platform: true,
      address: true,
      build_size: false,
    });
    expect(COLUMNS.map((c) => c.label)).toEqual(['Status', 'Name', 'Config file', 'Platform', 'Address', 'Build Size']);
  });

  it('reads the stored choice defensively: unknown keys and non-booleans keep the default', () => {
    expect(parseVisibility({ build_size: true, address: false }).build_size).toBe(true);
    expect(parseVisibility({ build_size: true, address: false }).address).toBe(false);
    expect(parseVisibility({ build_size: 'yes', bogus: true })).toEqual(defaultVisibility());
    for (const junk of [null, 'x', 3, [], undefined]) expect(parseVisibility(junk)).toEqual(defaultVisibility());
  });

  it('reads the stored sort defensively', () => {
    expect(parseSort({ column: 'build_size', direction: 'descending' })).toEqual({ column: 'build_size', direction: 'descending' });
    expect(parseSort({ column: 'actions', direction: 'descending' })).toEqual(DEFAULT_SORT);
    expect(parseSort({ column: 'name', direction: 'up' })).toEqual(DEFAULT_SORT);
    expect(parseSort(null)).toEqual(DEFAULT_SORT);
  });

  it('a header click flips the sorted column and starts others at their natural direction', () => {
    expect(nextSort({ column: 'name', direction: 'ascending' }, 'name')).toEqual({ column: 'name', direction: 'descending' });
    expect(nextSort({ column: 'name', direction: 'descending' }, 'name')).toEqual({ column: 'name', direction: 'ascending' });
    expect(nextSort({ column: 'name', direction: 'ascending' }, 'build_size')).toEqual({ column: 'build_size', direction: 'descending' });
    expect(nextSort({ column: 'build_size', direction: 'descending' }, 'address')).toEqual({ column: 'address', direction: 'ascending' });
  });
});

describe('Build Size cells', () => {
  it('prints base-1024 sizes with one decimal and an em dash for 0', () => {
    expect(sizeLabel(0)).toBe('—');
    expect(sizeLabel(-5)).toBe('—');
    expect(sizeLabel(1536)).toBe('1.5 KB');
    expect(sizeLabel(212.4 * MB)).toBe('212.4 MB');
    expect(sizeLabel(1.2 * 1024 * MB)).toBe('1.2 GB');
    expect(sizeLabel(512)).toBe('512 B');
  });
});

describe('sorting', () => {
  const fleet = [
    device('alpha', { build_size_bytes: 9 * MB }),
    device('beta', { build_size_bytes: 212 * MB }),
    device('gamma', { build_size_bytes: 0 }),
    device('delta', { build_size_bytes: 1200 * MB }),
  ];

  it('sorts sizes as numbers, not text', () => {
    expect(names(sortDevices(fleet, { column: 'build_size', direction: 'descending' }))).toEqual(['delta', 'beta', 'alpha', 'gamma']);
    expect(names(sortDevices(fleet, { column: 'build_size', direction: 'ascending' }))).toEqual(['gamma', 'alpha', 'beta', 'delta']);
  });

  it('sorts names naturally and case-insensitively by friendly name', () => {
    const list = [device('n10', { friendly_name: 'Node 10' }), device('n9', { friendly_name: 'node 9' }), device('a', { friendly_name: 'Attic' })];
    expect(names(sortDevices(list, { column: 'name', direction: 'ascending' }))).toEqual(['a', 'n9', 'n10']);
  });

  it('breaks ties by name so equal sizes keep a stable order in both directions', () => {
    const list = [device('c', { build_size_bytes: 5 }), device('a', { build_size_bytes: 5 }), device('b', { build_size_bytes: 5 })];
    expect(names(sortDevices(list, { column: 'build_size', direction: 'descending' }))).toEqual(['a', 'b', 'c']);
    expect(names(sortDevices(list, { column: 'build_size', direction: 'ascending' }))).toEqual(['a', 'b', 'c']);
  });

  it('does not modify its input', () => {
    const list = [device('b'), device('a')];
    sortDevices(list, DEFAULT_SORT);
    expect(names(list)).toEqual(['b', 'a']);
  });

  it('sorts addresses with numbers in order', () => {
    const list = [device('x', { address: '192.168.1.100' }), device('y', { address: '192.168.1.9' })];
    expect(names(sortDevices(list, { column: 'address', direction: 'ascending' }))).toEqual(['y', 'x']);
  });

  it('sorts the status column with running jobs first and devices without jobs last', () => {
    const jobs = new Map([
      ['a.yaml', job('a.yaml', { status: 'completed' })],
      ['b.yaml', job('b.yaml', { status: 'running' })],
      ['c.yaml', job('c.yaml', { status: 'failed' })],
    ]);
    const list = [device('d'), device('a'), device('c'), device('b')];
    expect(names(sortDevices(list, { column: 'status', direction: 'ascending' }, (c) => jobs.get(c)))).toEqual(['b', 'c', 'a', 'd']);
  });

  it('sorts 1,000 devices quickly', () => {
    const many = Array.from({ length: 1000 }, (_, i) => device(`device-${i}`, { build_size_bytes: ((i * 7919) % 1000) * MB }));
    const started = performance.now();
    const sorted = sortDevices(many, { column: 'build_size', direction: 'descending' });
    expect(performance.now() - started).toBeLessThan(200);
    expect(sorted[0]?.build_size_bytes).toBe(999 * MB);
  });
});

describe('search', () => {
  const d = device('kitchen', {
    friendly_name: 'Kitchen Light',
    configuration: 'kitchen-light.yaml',
    address: '192.168.1.42',
    target_platform: 'esp8266',
  });

  it('matches name, friendly name, file, address and platform, case-insensitively', () => {
    for (const query of ['kitchen', 'LIGHT', 'kitchen-light.yaml', '192.168.1.42', 'esp8266', 'ESP8266', '']) {
      expect(matchesQuery(d, query), query).toBe(true);
    }
    expect(matchesQuery(d, 'garage')).toBe(false);
  });

  it('needs every word to match somewhere', () => {
    expect(matchesQuery(d, 'kitchen 192.168')).toBe(true);
    expect(matchesQuery(d, 'kitchen esp32')).toBe(false);
  });

  it('filters a list', () => {
    expect(names(filterDevices([d, device('garage')], 'gar'))).toEqual(['garage']);
    expect(filterDevices([d], '   ')).toHaveLength(1);
  });

  it('labels platforms the way ESPHome writes them', () => {
    expect(platformLabel('esp32')).toBe('ESP32');
    expect(platformLabel('bk72xx')).toBe('BK72xx');
    expect(platformLabel('something')).toBe('SOMETHING');
    expect(platformLabel(null)).toBe('');
  });
});

describe('fleet summary', () => {
  it('totals the build folders, counts compiled devices and finds the largest', () => {
    const summary = summarize([device('a', { build_size_bytes: 10 * MB }), device('b', { build_size_bytes: 0 }), device('c', { build_size_bytes: 300 * MB })]);
    expect(summary.totalBytes).toBe(310 * MB);
    expect(summary.compiled).toBe(2);
    expect(summary.total).toBe(3);
    expect(summary.largest?.name).toBe('c');
  });

  it('is empty for an empty fleet', () => {
    expect(summarize([])).toEqual({ totalBytes: 0, compiled: 0, total: 0, largest: null });
  });
});

describe('latest job per device', () => {
  it('prefers an active job, else the newest finished one, and ignores fleet-wide jobs', () => {
    const old = job('a.yaml', { status: 'failed', created_at: 1 });
    const newer = job('a.yaml', { status: 'completed', created_at: 5 });
    const active = job('b.yaml', { status: 'queued', created_at: 1 });
    const finishedLater = job('b.yaml', { status: 'completed', created_at: 9 });
    const fleet = job('config', { job_type: 'reset_build_env', status: 'running' });
    const latest = latestJobs([old, newer, finishedLater, active, fleet]);
    expect(latest.get('a.yaml')).toBe(newer);
    expect(latest.get('b.yaml')).toBe(active);
    expect(latest.has('config')).toBe(false);
  });
});
