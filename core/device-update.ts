/**
 * The wire contract of firmware updates between the rollout service (bridge/) and a device's update agent
 * (devices/): Azure Device Update's twin shapes and codes, so both sides speak ADU without importing each other.
 *
 * Desired (service → device), under `deviceUpdate.service` of the desired twin:
 *   `{ workflow: {action, id, retryTimestamp?}, updateManifest: "<JSON string>", updateManifestSignature, fileUrls }`
 * Reported (device → service), under `deviceUpdate.agent` of the reported twin:
 *   `{ deviceProperties, compatPropertyNames, state, workflow, installedUpdateId: "<JSON string>", lastInstallResult }`
 */

/** `deviceUpdate.agent.state` on the wire (ADU's goal-state agent reports only these three). */
export const AgentState = Object.freeze({ Idle: 0, DeploymentInProgress: 6, Failed: 255 } as const)
export type AgentStateCode = typeof AgentState[keyof typeof AgentState]

/** `workflow.action`: what the service asks for. */
export const WorkflowAction = Object.freeze({ ProcessDeployment: 3, Cancel: 255 } as const)
export type WorkflowActionCode = typeof WorkflowAction[keyof typeof WorkflowAction]

/** ADU's result codes (`resultCode`): 700 is success of the whole workflow, ≤ 0 a failure, −1 cancelled. */
export const ResultCode = Object.freeze({
  Failure: 0,
  Cancelled: -1,
  DownloadSuccess: 500,
  DownloadInProgress: 501,
  InstallSuccess: 600,
  InstallInProgress: 601,
  ApplySuccess: 700,
  /** The update was already installed: the agent did nothing and reports success (ADU 603, reported as 700). */
  InstallSkippedAlreadyInstalled: 603
} as const)

/**
 * Extended result codes: 32 bits laid out as ADU's agent does, facility (4 bits) | component (8) | code (20).
 * Facilities and components are HomeFleet's (ADU's own tables name C modules that a simulation has not).
 */
export const ErcFacility = Object.freeze({ Agent: 0x1, Download: 0x3, Install: 0x4, Apply: 0x5 } as const)
export const ErcComponent = Object.freeze({
  Workflow: 0x01,
  Manifest: 0x02,
  Transfer: 0x10,
  Hash: 0x11,
  Handler: 0x20,
  Reboot: 0x30
} as const)
export const ErcCode = Object.freeze({
  /** The manifest cannot be parsed or is not for this device (a rejection, not a failed attempt). */
  ManifestInvalid: 0x1,
  Incompatible: 0x2,
  Timeout: 0x10,
  FileMissing: 0x11,
  HashMismatch: 0x20,
  HandlerFailed: 0x30,
  BootLoop: 0x40,
  Cancelled: 0x50,
  Superseded: 0x51
} as const)

export function makeExtendedResultCode (facility: number, component: number, code: number): number {
  return (((facility & 0xf) << 28) | ((component & 0xff) << 20) | (code & 0xfffff)) >>> 0
}

export function splitExtendedResultCode (erc: number): { facility: number; component: number; code: number } {
  const v = erc >>> 0
  return { facility: v >>> 28, component: (v >>> 20) & 0xff, code: v & 0xfffff }
}

/** Was this failure a refusal of the work itself (AWS IoT Jobs' REJECTED) rather than a failed attempt? */
export function isRejection (erc: number): boolean {
  const { facility, component } = splitExtendedResultCode(erc)
  return facility === ErcFacility.Agent && (component === ErcComponent.Manifest || component === ErcComponent.Workflow)
}

export interface UpdateIdentity { provider: string; name: string; version: string }

export interface WorkflowRef {
  action: number
  id: string
  /** ISO time; a newer one with the same id asks the agent to try the same work again. */
  retryTimestamp?: string
}

export interface InstallResult {
  resultCode: number
  extendedResultCode: number
  resultDetails: string
  /** Per step: `step_0`, `step_1`… as ADU names them. */
  stepResults?: Record<string, { resultCode: number; extendedResultCode: number; resultDetails: string }>
}

/** `deviceUpdate.agent` in the reported twin. */
export interface AgentReport {
  deviceProperties: Record<string, string>
  /** Comma-separated names of the deviceProperties that compatibility is checked against (ADU's default). */
  compatPropertyNames: string
  state: number
  workflow?: WorkflowRef
  /** JSON text of an {@link UpdateIdentity}, as ADU writes it. */
  installedUpdateId?: string
  lastInstallResult?: InstallResult
  /** HomeFleet: download progress of the work in progress, 0–100 (ADU has no such field; it is optional). */
  progress?: number
}

/** One file in the update manifest sent to a device, keyed by a file id in `files` and `fileUrls`. */
export interface UpdateManifestFile {
  fileName: string
  sizeInBytes: number
  hashes: { sha256: string }
}

/** The update manifest (the JSON inside `updateManifest`), ADU's device-side shape of an imported update. */
export interface UpdateManifest {
  manifestVersion: string
  updateId: UpdateIdentity
  compatibility: Record<string, string>[]
  instructions: { steps: ({ type: 'inline'; handler: string; files: string[]; handlerProperties?: Record<string, unknown> } | { type: 'reference'; detachedManifestFileId?: string; updateId: UpdateIdentity })[] }
  files: Record<string, UpdateManifestFile>
  createdDateTime: string
}

/** `deviceUpdate.service` in the desired twin. */
export interface ServiceRequest {
  workflow: WorkflowRef
  /** Absent with the cancel action. */
  updateManifest?: string
  updateManifestSignature?: string
  /** File id → where to fetch it; here an MQTT topic (`mqtt:` + topic), since devices download over MQTT. */
  fileUrls?: Record<string, string>
}

/** The scheme of a file URL that names an MQTT topic. */
export const MQTT_FILE_URL_SCHEME = 'mqtt:'
