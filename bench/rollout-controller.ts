/**
 * The controller side of the rollout benchmark, in a process of its own so that its CPU time and memory are its own
 * (bench/rollout-case.ts reads them from /proc). Started with an IPC channel:
 *
 *   node --import tsx bench/rollout-controller.ts service|baseline <broker URL> <data dir> <file size>
 *
 * - `service`: HomeFleet's rollout service (bridge/rollout/service.ts) with its SQLite store in the data directory;
 *   the case imports and deploys through its MQTT API, as `fleet rollout` does.
 * - `baseline`: the simplest script that pushes the same update: one desired-twin write per device, every file
 *   fetch answered from memory, a device done when its reported twin says so. No waves, gates, timeouts, retries,
 *   persistence or status topics: what any update push pays, for the service's figures to be read against.
 *
 * Messages to the parent: `{type: 'ready', devices}` once it has heard the fleet; `{type: 'done'}` (baseline) when
 * every device it offered the update to has ended; `{type: 'stats', …}` when asked. From the parent: `{type: 'go'}`
 * (baseline), `{type: 'stats', deploymentId?}`, `{type: 'stop'}`.
 */
import type { MqttClient } from 'mqtt'
import { AgentState, WorkflowAction, type AgentReport, type ServiceRequest } from '../core/device-update.ts'
import { createMqttClient, endClient, waitConnected } from '../core/mqtt-connect.ts'
import { createTopics } from '../core/topics.ts'
import { RolloutService } from '../bridge/rollout/service.ts'
import { BENCH_MODEL, BENCH_UPDATE_KEY, benchOffer, benchPayload } from './rollout-check.ts'

type FromParent = { type: 'go' } | { type: 'stats'; deploymentId?: string } | { type: 'stop' }

const [kind, url, dataDir, sizeArg] = process.argv.slice(2)
if ((kind !== 'service' && kind !== 'baseline') || url === undefined || dataDir === undefined || process.send === undefined) {
  process.stderr.write('usage (with an IPC channel): rollout-controller.ts service|baseline <broker URL> <data dir> <file size>\n')
  process.exit(2)
}
const fileSize = Number(sizeArg ?? 16384)
const send = (m: Record<string, unknown>): void => { process.send?.(m) }
const usage = (): Record<string, number> => {
  const cpu = process.cpuUsage()
  return { cpuUserUs: cpu.user, cpuSystemUs: cpu.system, maxRssKiB: process.resourceUsage().maxRSS }
}

if (kind === 'service') {
  const service = await RolloutService.start({ target: { url }, dataDir, settleMs: 500, clientId: 'bench-rollout-service' })
  send({ type: 'ready', devices: service.engine.knownDevices() })
  process.on('message', (m: FromParent) => {
    if (m.type === 'stats') {
      const records = m.deploymentId === undefined ? [] : service.engine.deviceRecords(m.deploymentId).map((r) => [r.deviceId, r.state])
      send({ type: 'stats', stats: service.stats, writes: service.store.writes, records, ...usage() })
    } else if (m.type === 'stop') {
      service.stop().then(() => process.exit(0), (err: unknown) => { process.stderr.write(`stop failed: ${String(err)}\n`); process.exit(1) })
    }
  })
} else {
  await baseline()
}

async function baseline (): Promise<void> {
  const topics = createTopics()
  const client: MqttClient = createMqttClient({ url: url as string }, { clientId: 'bench-rollout-baseline', clean: true, reconnectPeriod: 1000 })
  await waitConnected(client, { url: url as string }, 10_000)
  const fileTopic = topics.rolloutFile('bench', 'f0')
  const offer = benchOffer(fileSize, fileTopic)
  const bytes = benchPayload(fileSize)
  const workflowId = 'baseline'
  /** Devices with an update agent of the right model → their state in the push. */
  const devices = new Map<string, 'Known' | 'InProgress' | 'Succeeded' | 'Failed'>()
  const receivedBy = { reported: 0, fetch: 0 }
  const sentBy = { desired: 0, delivery: 0 }
  let open = 0
  let going = false
  let lastHeard = Date.now()
  const finished = (id: string, state: 'Succeeded' | 'Failed'): void => {
    devices.set(id, state)
    if (--open === 0) send({ type: 'done' })
  }
  client.on('message', (topic, payload) => {
    const p = topics.parse(topic)
    if (p?.channel === 'rolloutFetch') {
      receivedBy.fetch++
      sentBy.delivery++
      client.publish(topics.build('rolloutDelivery', p.agentId, p.rid), bytes, { qos: 1 })
      return
    }
    if (p?.channel !== 'reported') return
    receivedBy.reported++
    lastHeard = Date.now()
    let agent: AgentReport | undefined
    try { agent = (JSON.parse(payload.toString('utf8')) as { deviceUpdate?: { agent?: AgentReport } }).deviceUpdate?.agent } catch { return }
    if (agent?.deviceProperties?.model !== BENCH_MODEL) return
    const state = devices.get(p.deviceId)
    if (state === undefined) { devices.set(p.deviceId, 'Known'); return }
    if (state !== 'InProgress' || agent.workflow?.id !== workflowId) return
    if (agent.state === AgentState.Idle && installedKey(agent) === BENCH_UPDATE_KEY) finished(p.deviceId, 'Succeeded')
    else if (agent.state === AgentState.Failed) finished(p.deviceId, 'Failed')
  })
  await client.subscribeAsync([topics.filter('reported'), topics.filter('rolloutFetch')], { qos: 1 })
  // Hear the fleet's retained reports: until none arrived for 500 ms (at most 10 s).
  const t0 = Date.now()
  while (Date.now() - lastHeard < 500 && Date.now() - t0 < 10_000) await new Promise((resolve) => setTimeout(resolve, 100))
  send({ type: 'ready', devices: devices.size })
  process.on('message', (m: FromParent) => {
    if (m.type === 'go' && !going) {
      going = true
      const service: ServiceRequest = { workflow: { action: WorkflowAction.ProcessDeployment, id: workflowId }, updateManifest: offer.manifest, updateManifestSignature: '', fileUrls: offer.fileUrls }
      const text = JSON.stringify({ deviceUpdate: { service } })
      for (const id of devices.keys()) {
        devices.set(id, 'InProgress')
        open++
        sentBy.desired++
        client.publish(topics.desired(id), text, { qos: 1, retain: true })
      }
      if (open === 0) send({ type: 'done' })
    } else if (m.type === 'stats') {
      send({
        type: 'stats',
        stats: { received: receivedBy.reported + receivedBy.fetch, sent: sentBy.desired + sentBy.delivery, receivedBy, sentBy },
        writes: { transactions: 0, deployments: 0, records: 0 },
        records: [...devices.entries()],
        ...usage()
      })
    } else if (m.type === 'stop') {
      endClient(client).then(() => process.exit(0), () => process.exit(1))
    }
  })
}

function installedKey (agent: AgentReport): string | undefined {
  try {
    const id = JSON.parse(agent.installedUpdateId ?? '') as { provider: string; name: string; version: string }
    return `${id.provider}/${id.name}/${id.version}`
  } catch { return undefined }
}
