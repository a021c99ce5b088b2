import { describe, expect, it } from 'vitest'
import { createRecognizer, Vocabulary, type VoiceParse } from '../../bridge/voice/index.ts'
import { readNumber } from '../../bridge/voice/numbers.ts'
import { compilePattern } from '../../bridge/voice/pattern.ts'
import { words } from '../../bridge/voice/text.ts'
import { formatTime, readTime } from '../../bridge/voice/times.ts'
import { evaluateCorpus, loadCorpus } from '../../bench/voice-eval.ts'
import { bigHomeNames } from '../../bench/voice-parse.ts'
import { demoRecognizer } from '../../bench/voice-home.ts'

const r = demoRecognizer()
const parse = (text: string, lang?: 'en' | 'fr'): VoiceParse => r.parse(text, lang === undefined ? {} : { lang })

describe('numbers', () => {
  it.each([
    ['fifty', 50], ['twenty five', 25], ['one hundred and ten', 110], ['a hundred', 100], ['80', 80],
    ['cinquante', 50], ['soixante-dix', 70], ['soixante et onze', 71], ['quatre-vingts', 80], ['quatre-vingt-dix-neuf', 99],
    ['vingt et un', 21], ['dix-sept', 17], ['cent cinquante', 150], ['quarante-cinq', 45], ['ten thousand', 10000],
    ['dix mille', 10000], ['mille deux cents', 1200], ['two thousand and five', 2005]
  ])('%s → %d', (text, value) => {
    const n = readNumber(words(text), 0)
    expect(n?.value).toBe(value)
    expect(n?.length).toBe(words(text).length)
  })

  it.each([['80%'], ['80 percent'], ['quatre-vingts pour cent']])('%s is 80 percent', (text) => {
    expect(readNumber(words(text), 0)).toEqual({ value: 80, length: words(text).length, percent: true })
  })

  it('reads articles as words, and numbers that do not compose as two', () => {
    expect(readNumber(words('une photo'), 0)).toBeUndefined()
    expect(readNumber(words('a song'), 0)).toBeUndefined()
    expect(readNumber(words('six thirty'), 0)).toEqual({ value: 6, length: 1, percent: false })
  })
})

describe('times', () => {
  it.each([
    ['6:30', '06:30'], ['6:30 am', '06:30'], ['7 pm', '19:00'], ['seven pm', '19:00'], ["six o'clock", '06:00'],
    ['half past six', '06:30'], ['quarter to eight', '07:45'], ['ten past seven', '07:10'], ['10 to 6', '05:50'],
    ['noon', '12:00'], ['midnight', '00:00'], ['12 am', '00:00'], ['7:00 p.m.', '19:00'],
    ['6h30', '06:30'], ['21h', '21:00'], ['19 heures', '19:00'], ['7 heures et quart', '07:15'], ['7 heures et demie', '07:30'],
    ['8 heures moins le quart', '07:45'], ['sept heures moins dix', '06:50'], ['6 heures 45', '06:45'],
    ['sept heures du soir', '19:00'], ['midi', '12:00'], ['minuit', '00:00']
  ])('%s → %s', (text, hhmm) => {
    const t = readTime(words(text), 0)
    expect(t === undefined ? undefined : formatTime(t)).toBe(hhmm)
    expect(t?.length).toBe(words(text).length)
  })

  it('does not read a bare number as a time', () => {
    expect(readTime(words('7'), 0)).toBeUndefined()
  })
})

describe('normalisation', () => {
  it('ignores case, accents, apostrophe styles and elisions', () => {
    for (const text of ["Éteins l'enceinte de la cuisine", 'eteins l’enceinte de la CUISINE', 'ETEINS L ENCEINTE DE LA CUISINE']) {
      expect(parse(text)).toMatchObject({ intent: 'TurnOff', lang: 'fr', slots: { room: 'kitchen', kind: 'speaker' } })
    }
  })

  it.each([['Cortana, mute the office'], ['Hey Cortana mute the office'], ['hey cortana, could you please mute the office'], ['mute the office, Cortana']])(
    'wake words and politeness around %j', (text) => {
      expect(parse(text)).toMatchObject({ intent: 'Mute', slots: { room: 'office' }, confidence: 1 })
    })

  it.each([['Dis Cortana, coupe le son du bureau'], ['Hé Cortana coupe le son du bureau'], ["coupe le son du bureau s'il te plaît"]])(
    'French wake words and politeness: %j', (text) => {
      expect(parse(text)).toMatchObject({ intent: 'Mute', lang: 'fr', slots: { room: 'office' } })
    })
})

describe('intents and slots', () => {
  it.each<[string, string, Record<string, unknown>]>([
    ['turn on the kitchen speaker', 'TurnOn', { device: 'kitchen speaker' }],
    ['allume la caméra du jardin', 'TurnOn', { room: 'garden', kind: 'camera' }],
    ['turn off all the cameras', 'TurnOff', { kind: 'camera', all: true }],
    ['éteins tout', 'TurnOff', { all: true }],
    ['set the volume to fifty', 'SetVolume', { level: 50 }],
    ['mets le volume à quatre-vingts pour cent', 'SetVolume', { level: 80 }],
    ['louder', 'ChangeVolume', { delta: 10 }],
    ['baisse le son de vingt', 'ChangeVolume', { delta: -20 }],
    ['mute the bedroom speaker', 'Mute', { device: 'bedroom speaker' }],
    ['remets le son', 'Unmute', {}],
    ['play some jazz in the kitchen', 'MediaPlay', { media: 'jazz', room: 'kitchen' }],
    ['mets en pause', 'MediaPause', {}],
    ['resume the music', 'MediaResume', {}],
    ['chanson suivante', 'MediaNext', {}],
    ['show me the front door camera', 'ShowCamera', { device: 'front door camera' }],
    ['prends une photo du jardin', 'TakeSnapshot', { room: 'garden' }],
    ['disable night mode on the garage camera', 'SetNightMode', { on: false, device: 'garage camera' }],
    ['active la vision nocturne dans le jardin', 'SetNightMode', { on: true, room: 'garden' }],
    ["what's my heart rate", 'GetHeartRate', {}],
    ['combien de pas aujourd\'hui', 'GetSteps', {}],
    ['how much battery does my band have', 'GetBattery', { device: 'my band' }],
    ['où est mon bracelet', 'FindDevice', { kind: 'band' }],
    ['wake me up at half past six', 'SetAlarm', { time: '06:30' }],
    ['réveille-moi à 7 heures et quart', 'SetAlarm', { time: '07:15' }],
    ['wake me up at seven thirty', 'SetAlarm', { time: '07:30' }],
    ['check for updates', 'CheckForUpdates', {}]
  ])('%s → %s %j', (text, intent, slots) => {
    const p = parse(text)
    expect(p.intent).toBe(intent)
    expect(p.slots).toEqual(slots)
  })

  it.each([['turn on the lights'], ["what's the weather"], ['set a timer for 5 minutes'], ['add milk to my shopping list'],
    ['allume la lumière'], ['mets un minuteur de dix minutes'], ['turn on the tv'], ['open the garage door'], ['previous song'], ['']])(
    'out of domain or not understood: %j → None', (text) => {
      expect(parse(text)).toMatchObject({ intent: 'None', slots: {} })
    })

  it('reads words before a kind word as the name of a device the home does not know', () => {
    expect(parse('turn on the bathroom speaker')).toMatchObject({ intent: 'TurnOn', slots: { device: 'bathroom speaker' } })
  })

  it('gives each slot the span of the words it came from', () => {
    const text = 'Hey Cortana, play Nina Simone on the bedroom speaker please'
    const p = parse(text)
    expect(p.slots).toEqual({ media: 'Nina Simone', device: 'bedroom speaker' })
    for (const s of p.spans) expect(text.slice(s.offset, s.offset + s.length)).toBe(s.text)
    expect(p.spans.map((s) => [s.slot, s.text])).toEqual(expect.arrayContaining([['media', 'Nina Simone'], ['device', 'bedroom speaker']]))
  })

  it('detects the language, and --lang restricts the grammar', () => {
    expect(parse('turn off the kitchen').lang).toBe('en')
    expect(parse('éteins la cuisine').lang).toBe('fr')
    expect(parse('éteins la cuisine', 'en').intent).toBe('None')
    expect(parse('pause', 'fr')).toMatchObject({ intent: 'MediaPause', lang: 'fr' })
  })

  it('explains its choice and scores a clean match 1, a match relying on extra words lower', () => {
    expect(parse('turn on the office')).toMatchObject({ confidence: 1, explanation: expect.stringMatching(/^en TurnOn: /) as string })
    expect(parse('how many steps today').confidence).toBeLessThan(1)
  })
})

describe('beyond the templates', () => {
  it.each<[string, string, Record<string, unknown>]>([
    ['is it possible to turn off the garage camera', 'TurnOff', { device: 'garage camera' }],
    ['would you mind pausing the music', 'MediaPause', {}],
    ["j'aimerais que vous baissiez le son dans le salon", 'ChangeVolume', { room: 'living room', delta: -10 }],
    ['pourriez-vous me dire mon rythme cardiaque', 'GetHeartRate', {}],
    ['baisse ça un peu', 'ChangeVolume', { delta: -10 }],
    ['lance La Vie en rose', 'MediaPlay', { media: 'La Vie en rose' }],
    ['fais jouer Stromae dans le bureau', 'MediaPlay', { media: 'Stromae', room: 'office' }],
    ["mets hors tension l'enceinte du salon", 'TurnOff', { room: 'living room', kind: 'speaker' }]
  ])('polite wrappers, inflections, pronouns and titles: %s → %s %j', (text, intent, slots) => {
    const p = parse(text)
    expect(p.intent).toBe(intent)
    expect(p.slots).toEqual(slots)
  })

  it.each<[string, string, Record<string, unknown>]>([
    ['ugh this song is terrible, skip it', 'MediaNext', {}],
    ["j'aime pas celle-là, mets la suivante", 'MediaNext', {}],
    ['bump the volume up a couple notches', 'ChangeVolume', { delta: 10 }],
    ["mute the kitchen, I'm on the phone", 'Mute', { room: 'kitchen' }],
    ["unmute the bedroom, I can't hear a thing", 'Unmute', { room: 'bedroom' }]
  ])('tolerates a remark or a tail the grammar does not know, with a lower confidence: %s', (text, intent, slots) => {
    const p = parse(text)
    expect(p).toMatchObject({ intent, slots })
    expect(p.confidence).toBeGreaterThan(0.5)
    expect(p.confidence).toBeLessThan(1)
    expect(p.explanation).toMatch(/tolerated: /)
  })

  it.each([['turn up the heat'], ['open the garage door'], ['open the front door'], ["what's playing"], ['take a picture of my dog'],
    ['lights, turn them off'], ['monte le chauffage'], ['baisse les stores de la chambre'], ['ouvre la porte du garage'],
    ['lance la machine à laver'], ['turn off the kitchen lamp'], ['find my keys']])(
    'never turns what a verb acts on, when it is not this home\'s, into a guess: %j → None', (text) => {
      expect(parse(text)).toMatchObject({ intent: 'None', slots: {} })
    })
})

describe('put, mettre, passer: verbs that do not always mean play', () => {
  it.each<[string, Record<string, unknown>]>([
    ['put the music on hold', {}],
    ['put the song on hold', {}],
    ['put the music on pause', {}],
    ['put it on hold', {}],
    ['put the kitchen speaker on hold', { device: 'kitchen speaker' }],
    ['could you put the music in the office on hold please', { room: 'office' }]
  ])('put X on hold, put X on pause: a pause, by a template rather than a tolerated guess: %s → MediaPause %j', (text, slots) => {
    const p = parse(text)
    expect(p).toMatchObject({ intent: 'MediaPause', lang: 'en', slots })
    expect(p.explanation).not.toMatch(/tolerated/)
  })

  it.each<[string, string, Record<string, unknown>]>([
    ['put some music on', 'MediaPlay', {}],
    ['put on some music', 'MediaPlay', {}],
    ['put something on in the bedroom', 'MediaPlay', { room: 'bedroom' }],
    ['put the radio on in the kitchen', 'MediaPlay', { room: 'kitchen' }],
    ['put on some Miles Davis', 'MediaPlay', { media: 'Miles Davis' }],
    ['put on La Vie en rose', 'MediaPlay', { media: 'La Vie en rose' }],
    ['mets de la musique', 'MediaPlay', {}],
    ['mets la radio', 'MediaPlay', {}],
    ['mets une chanson', 'MediaPlay', {}],
    ['mets du Daft Punk', 'MediaPlay', { media: 'Daft Punk' }],
    ['mets-moi un peu de jazz', 'MediaPlay', { media: 'jazz' }],
    ['passe-moi du Aya Nakamura', 'MediaPlay', { media: 'Aya Nakamura' }],
    ['mets Nina Simone dans le salon', 'MediaPlay', { media: 'Nina Simone', room: 'living room' }],
    ['mets La Vie en rose', 'MediaPlay', { media: 'La Vie en rose' }],
    ['mets la musique en pause', 'MediaPause', {}],
    ['mets la suivante', 'MediaNext', {}],
    ['mets le volume à 20', 'SetVolume', { level: 20 }]
  ])('something playable after put, mettre or passer is still played: %s → %s %j', (text, intent, slots) => {
    const p = parse(text)
    expect(p.intent).toBe(intent)
    expect(p.slots).toEqual(slots)
  })

  it.each([['mets la table'], ['Mets la table.'], ['mets la table dans la cuisine'], ["mets le couvert s'il te plaît"],
    ['mets ton manteau'], ['mets son manteau'], ['passe-moi le sel'], ['put on a jacket'], ['put on your coat']])(
    'a common noun after put, mettre or passer is not something to play: %j → None', (text) => {
      expect(parse(text)).toMatchObject({ intent: 'None', slots: {} })
    })

  it.each([['put the call on hold'], ['put the table on hold']])('what is put on hold must be this home\'s: %j → None', (text) => {
    expect(parse(text)).toMatchObject({ intent: 'None', slots: {} })
  })
})

describe('vocabulary', () => {
  it('prefers the longest phrase, a device name over a room and kind', () => {
    const v = new Vocabulary([{ id: 'kitchen', names: { en: ['kitchen'], fr: ['cuisine'] } }])
    v.addDevice('kitchen speaker')
    expect(v.longest(words('kitchen speaker'), 0)).toEqual({ entry: { type: 'device', value: 'kitchen speaker' }, length: 2 })
    expect(v.longest(words('kitchen'), 0)).toEqual({ entry: { type: 'room', value: 'kitchen' }, length: 1 })
  })

  it('counts names: a name added twice stays until removed twice', () => {
    const v = new Vocabulary()
    v.addDevice('Radio Béa')
    v.addDevice('Radio Béa')
    v.removeDevice('Radio Béa')
    expect(v.longest(words('radio bea'), 0)?.entry.type).toBe('device')
    v.removeDevice('Radio Béa')
    expect(v.longest(words('radio bea'), 0)).toBeUndefined()
  })

  it('finds one device among 10,000 named ones', () => {
    const names = bigHomeNames()
    const big = createRecognizer({ devices: names.map((name) => ({ name })) })
    const name = names[7777] as string
    expect(big.parse(`turn off ${name}`)).toMatchObject({ intent: 'TurnOff', slots: { device: name } })
    expect(big.parse(`éteins ${name} s'il te plaît`)).toMatchObject({ intent: 'TurnOff', lang: 'fr', slots: { device: name } })
  })
})

describe('patterns', () => {
  it.each([['(a|b'], ['[a'], ['a ) b'], ['{nope}']])('refuses %j', (src) => {
    expect(() => compilePattern(src)).toThrow(/pattern/)
  })
})

describe('the corpus', () => {
  it('has at least 300 utterances, half in each language, every intent in both, a quarter held out', () => {
    const corpus = loadCorpus()
    expect(corpus.length).toBeGreaterThanOrEqual(300)
    for (const lang of ['en', 'fr']) {
      const mine = corpus.filter((e) => e.lang === lang)
      expect(mine.length).toBeGreaterThanOrEqual(150)
      expect(new Set(mine.map((e) => e.intent)).size).toBe(20)
    }
    expect(corpus.filter((e) => e.split === 'heldout').length / corpus.length).toBeGreaterThanOrEqual(0.25)
  })

  it('meets the accuracy targets in each language, held-out within 5 points', () => {
    const { misses, failures } = evaluateCorpus()
    expect(misses, failures.join('\n')).toEqual([])
  })
})
