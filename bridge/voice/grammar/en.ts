/**
 * English phrasings. Order matters only between templates of equal length for the same utterance; a longer
 * template (more words consumed) always wins, and one whose leftovers cannot be explained never does.
 */
import { DEFAULT_VOLUME_STEP as STEP } from '../intents.ts'
import type { Grammar } from './types.ts'

const MEDIA_WORDS = ['music', 'song', 'songs', 'track', 'tracks', 'tune', 'tunes', 'playback', 'playing', 'audio', 'player', 'playlist']
const QUERY = ['what', 'whats', 's', 'is', 'how', 'much', 'many', 'tell', 'give', 'check', 'show', 'current', 'currently',
  'does', 'do', 'say', 'says', 'have', 'has', 'level', 'get', 'see', 'reading', 'read', 'know', 'find', 'out', 'am', 'at', 'left']
const NIGHT = 'night (mode|vision)'

export const EN: Grammar = {
  lang: 'en',
  templates: [
    // Night mode before on/off: `turn on night mode` is SetNightMode, and its extra words make TurnOn fail anyway.
    { intent: 'SetNightMode', pattern: `(turn|switch|put|set) on … ${NIGHT}`, set: { on: true } },
    { intent: 'SetNightMode', pattern: `(turn|switch|put|set) … ${NIGHT} on`, set: { on: true } },
    { intent: 'SetNightMode', pattern: `(turn|switch|shut) off … ${NIGHT}`, set: { on: false } },
    { intent: 'SetNightMode', pattern: `(turn|switch) … ${NIGHT} off`, set: { on: false } },
    { intent: 'SetNightMode', pattern: `(enable|activate|start|use) … ${NIGHT}`, set: { on: true } },
    { intent: 'SetNightMode', pattern: `(disable|deactivate|stop|cancel) … ${NIGHT}`, set: { on: false } },
    { intent: 'SetNightMode', pattern: `(put|set|switch|turn) … (in|into|to) ${NIGHT}`, set: { on: true } },
    { intent: 'SetNightMode', pattern: `${NIGHT} off`, set: { on: false } },
    { intent: 'SetNightMode', pattern: `${NIGHT} [on]`, set: { on: true } },

    { intent: 'Unmute', pattern: 'un mute' },
    { intent: 'Unmute', pattern: 'unmute' },
    { intent: 'Unmute', pattern: '(turn|switch|put|bring) … (sound|audio|volume) back [on]' },
    { intent: 'Unmute', pattern: '(turn|switch) … (sound|audio) on' },
    { intent: 'Unmute', pattern: '(turn|switch) on … (sound|audio)' },
    { intent: 'Unmute', pattern: '(stop|cancel) … muting' },
    { intent: 'Mute', pattern: 'mute' },
    { intent: 'Mute', pattern: 'silence' },
    { intent: 'Mute', pattern: '(turn|switch|shut|cut) off … (sound|audio)' },
    { intent: 'Mute', pattern: '(turn|switch|shut|cut) … (sound|audio) off' },
    { intent: 'Mute', pattern: '(be quiet|shut up|hush|quiet please)' },

    { intent: 'SetVolume', pattern: '(max|maximum|full) volume', set: { level: 100 } },
    { intent: 'SetVolume', pattern: 'volume … (to|at|on) (the max|max|maximum|full)', set: { level: 100 } },
    { intent: 'SetVolume', pattern: '(crank|turn) … all the way up', set: { level: 100 } },
    { intent: 'SetVolume', pattern: '(turn|crank|bring|push|pump) … up to (the max|max|maximum|full|the maximum)', set: { level: 100 } },
    { intent: 'SetVolume', pattern: '(min|minimum|lowest) volume', set: { level: 0 } },
    { intent: 'SetVolume', pattern: 'volume … (to|at) (the minimum|minimum|min|zero)', set: { level: 0 } },
    { intent: 'SetVolume', pattern: '(set|change|put|turn|adjust|make|bring) … volume … (to|at) {num}' },
    { intent: 'SetVolume', pattern: '(turn|crank|bring|push|raise|increase) … up to {num}' },
    { intent: 'SetVolume', pattern: '(turn|bring|lower|drop|reduce|decrease) … down to {num}' },
    { intent: 'SetVolume', pattern: '(raise|lower|increase|decrease|reduce) … volume to {num}' },
    { intent: 'SetVolume', pattern: 'volume … (to|at) {num}' },
    { intent: 'SetVolume', pattern: 'volume [level] {num}' },
    { intent: 'SetVolume', pattern: '(set|put|turn|change|adjust|bring) … (to|at) {num}' },
    { intent: 'SetVolume', pattern: 'make it {num}' },

    { intent: 'ChangeVolume', pattern: '(turn|crank|pump|bump|bring|jack) … up', set: { delta: STEP } },
    { intent: 'ChangeVolume', pattern: '(turn|bring|tone) … down', set: { delta: -STEP } },
    { intent: 'ChangeVolume', pattern: '(volume|sound) up', set: { delta: STEP } },
    { intent: 'ChangeVolume', pattern: '(volume|sound) down', set: { delta: -STEP } },
    { intent: 'ChangeVolume', pattern: '(increase|raise|boost|up) … (volume|sound)', set: { delta: STEP } },
    { intent: 'ChangeVolume', pattern: '(decrease|lower|reduce|drop|lessen) … (volume|sound)', set: { delta: -STEP } },
    { intent: 'ChangeVolume', pattern: '[make …] (louder|higher)', set: { delta: STEP } },
    { intent: 'ChangeVolume', pattern: '[make …] (quieter|softer|lower)', set: { delta: -STEP } },
    { intent: 'ChangeVolume', pattern: '(lower|quiet) … down', set: { delta: -STEP } },

    { intent: 'MediaNext', pattern: '(play|go to|skip to|jump to|move to|switch to) … next' },
    { intent: 'MediaNext', pattern: '(next|following) (song|track|tune|one)' },
    { intent: 'MediaNext', pattern: 'skip' },
    { intent: 'MediaNext', pattern: 'next' },
    { intent: 'MediaResume', pattern: '(resume|unpause)' },
    { intent: 'MediaResume', pattern: '(continue|keep|carry on|go on) [playing|with]' },
    { intent: 'MediaResume', pattern: '(start|play) … again' },
    { intent: 'MediaPause', pattern: '(pause|halt)' },
    { intent: 'MediaPause', pattern: '(stop|hold) … (music|song|track|playback|playing|audio)' },
    { intent: 'MediaPause', pattern: '^ stop $' },
    { intent: 'MediaPause', pattern: 'stop playing' },
    { intent: 'MediaPlay', pattern: '(start|begin) … (music|playing|playback|a playlist|the playlist|some tunes)' },
    { intent: 'MediaPause', pattern: '(kill|cut) … (music|song|track|audio)' },
    { intent: 'MediaPlay', pattern: '(play|put on|listen to|hear|queue|throw on)' },

    { intent: 'ShowCamera', pattern: 'who … at … door', impliedRoom: 'front door' },
    { intent: 'ShowCamera', pattern: 'who (s|is) at' },
    { intent: 'ShowCamera', pattern: '(show|display|view|open) [me|us]' },
    { intent: 'ShowCamera', pattern: '(let me|i want to|can i) (see|look at|view|watch)' },
    { intent: 'ShowCamera', pattern: '(start|begin|open) … (stream|streaming|feed|video|live view)' },
    { intent: 'ShowCamera', pattern: '(stream|watch|look at|pull up|bring up)' },
    { intent: 'ShowCamera', pattern: 'what s (happening|going on) (in|at|outside)' },
    { intent: 'TakeSnapshot', pattern: '(take|snap|grab|capture|get|shoot|make) … (picture|photo|snapshot|pic|image|shot|snap|still)' },
    { intent: 'TakeSnapshot', pattern: '(snapshot|photograph)' },

    { intent: 'GetHeartRate', pattern: 'heart (rate|beat)' },
    { intent: 'GetHeartRate', pattern: '(heartbeat|pulse|bpm)' },
    { intent: 'GetHeartRate', pattern: 'how fast … heart' },
    { intent: 'GetSteps', pattern: '(steps|step count|step counter)' },
    { intent: 'GetBattery', pattern: '(battery|batteries|charged|charge)' },
    { intent: 'CheckForUpdates', pattern: 'up to date' },
    { intent: 'CheckForUpdates', pattern: '(update|updates|upgrade|upgrades|firmware|new version|latest version)' },
    { intent: 'FindDevice', pattern: 'where … (is|s|did|are|d)' },
    { intent: 'FindDevice', pattern: '(find|locate|lost)' },
    { intent: 'FindDevice', pattern: '(ring|buzz|ping)' },
    { intent: 'FindDevice', pattern: 'make … (vibrate|buzz|ring|beep)' },

    { intent: 'SetAlarm', pattern: '(set|create|add|make|put|schedule|program) … alarm' },
    { intent: 'SetAlarm', pattern: 'wake [me|us] [up]' },
    { intent: 'SetAlarm', pattern: '(alarm|alarm clock)' },

    { intent: 'TurnOn', pattern: '(turn|switch|power|flip) on' },
    { intent: 'TurnOn', pattern: '(turn|switch|power|flip) … on' },
    { intent: 'TurnOn', pattern: '(power|start|boot|fire|wake) up' },
    { intent: 'TurnOn', pattern: '(power|start|boot|fire) … up' },
    { intent: 'TurnOff', pattern: '(turn|switch|power|shut|flip) off' },
    { intent: 'TurnOff', pattern: '(turn|switch|power|shut|flip) … off' },
    { intent: 'TurnOff', pattern: '(power|shut) down' },
    { intent: 'TurnOff', pattern: '(power|shut) … down' },
    { intent: 'TurnOff', pattern: '(kill|cut|deactivate|disable)' }
  ],
  extras: {
    SetVolume: ['volume', 'sound', 'level', 'loudness', 'percent'],
    ChangeVolume: [...MEDIA_WORDS, 'volume', 'sound', 'bit', 'little', 'lot', 'more', 'much', 'tad', 'slightly', 'notch', 'notches', 'a', 'by', 'some', 'up', 'louder', 'quieter', 'even', 'make', 'please'],
    Mute: ['sound', 'audio'],
    Unmute: ['sound', 'audio', 'back'],
    MediaPlay: MEDIA_WORDS,
    MediaPause: MEDIA_WORDS,
    MediaResume: [...MEDIA_WORDS, 'where', 'left', 'off', 'we'],
    MediaNext: [...MEDIA_WORDS, 'one', 'this', 'next'],
    ShowCamera: ['camera', 'feed', 'live', 'view', 'stream', 'video', 'what', 'happening', 'outside', 'is', 's', 'there', 'who'],
    TakeSnapshot: ['picture', 'photo', 'quick'],
    SetNightMode: ['night', 'mode', 'vision', 'infrared'],
    GetHeartRate: [...QUERY, 'beating', 'fast', 'heart', 'rate', 'my'],
    GetSteps: [...QUERY, 'did', 'take', 'taken', 'walked', 'walk', 'done', 'made', 'today', 'count', 'number', 'so', 'far', 'i', 've'],
    GetBattery: [...QUERY, 'remaining', 'power', 'percentage', 'life', 'low', 'charged', 'fully', 'need', 'needs', 'charging', 'still'],
    FindDevice: ['where', 'did', 'i', 'put', 'leave', 'left', 'can', 't', 'cannot', 'cant', 'help', 'make', 'it', 'vibrate', 'buzz', 'ring', 'find', 'gone', 'has', 'is', 'went', 'lost', 'have', 'seen', 'don', 'know'],
    SetAlarm: ['for', 'tomorrow', 'morning', 'new', 'an', 'alarm', 'wake', 'up', 'me', 'please', 'today', 'o', 'clock'],
    CheckForUpdates: [...QUERY, 'for', 'any', 'are', 'there', 'software', 'firmware', 'available', 'new', 'latest', 'look', 'need', 'needs', 'updated', 'running', 'version', 'got', 'update', 'updates']
  }
}
